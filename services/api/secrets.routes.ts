import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import { z } from 'zod';
import { putSecretBodySchema } from '../../schemas/api.schema.ts';
import { type SecretVault, secretNamePattern } from '../../secrets/secret-vault.ts';
import { auditMetadata } from './audit-metadata.ts';
import { type AuthVariables, requireScope } from './bearer-auth.middleware.ts';
import { ProblemError } from './problem.ts';
import { validationHook } from './validation-hook.ts';

export interface SecretsRoutesDeps {
  /** Absent when no encryption key is configured. */
  readonly secrets?: SecretVault;
}

type Env = { Variables: AuthVariables & { requestId: string } };

const nameParam = z.object({
  name: z.string().regex(secretNamePattern, 'must be 1-128 of A-Z a-z 0-9 _ . -'),
});
const putBody = putSecretBodySchema;

/** /v1/secrets: a tenant stores secrets by name; values are write-only (no route ever returns one). */
export function createSecretsRoutes(deps: SecretsRoutesDeps) {
  const vault = () => {
    if (!deps.secrets) {
      throw new ProblemError({
        status: 503,
        code: 'secrets-disabled',
        title: 'Secrets are not configured',
        detail: 'the operator has set no SECRETS_KEYS',
      });
    }
    return deps.secrets;
  };
  return new Hono<Env>()
    .get('/', requireScope('secrets:read'), async (c) => {
      const names = await vault().list(c.get('principal').tenant);
      return c.json({ secrets: names.map((name) => ({ name })) });
    })
    .put(
      '/:name',
      requireScope('secrets:write'),
      zValidator('param', nameParam, validationHook),
      zValidator('json', putBody, validationHook),
      async (c) => {
        const principal = c.get('principal');
        const { name } = c.req.valid('param');
        await vault().put(principal.tenant, name, c.req.valid('json').value, auditMetadata(c, principal));
        return c.body(null, 204);
      },
    );
}
