import { createRoute } from '@hono/zod-openapi';
import { z } from 'zod';
import { putSecretBodySchema, secretListSchema } from '../../schemas/api.schema.ts';
import { type SecretVault, secretNamePattern } from '../../secrets/secret-vault.ts';
import { auditMetadata } from './audit-metadata.ts';
import type { AuthVariables } from './bearer-auth.middleware.ts';
import { jsonBody, jsonResponse, openApiRoutes, problems, scoped } from './openapi-route.ts';
import { ProblemError } from './problem.ts';

export interface SecretsRoutesDeps {
  /** Absent when no encryption key is configured. */
  readonly secrets?: SecretVault;
}

type Env = { Variables: AuthVariables & { requestId: string } };

const nameParam = z.object({
  name: z
    .string()
    .regex(secretNamePattern, 'must be 1-128 of A-Z a-z 0-9 _ . -')
    .meta({ example: 'api-key' }),
});

const listSecrets = createRoute({
  method: 'get',
  path: '/',
  tags: ['secrets'],
  summary: "Names of the tenant's secrets (never their values)",
  ...scoped('secrets:read'),
  responses: {
    200: jsonResponse('The names', secretListSchema, { secrets: [{ name: 'api-key' }] }),
    ...problems(401, 403, 429, 503),
  },
});

const putSecret = createRoute({
  method: 'put',
  path: '/{name}',
  tags: ['secrets'],
  summary: 'Store a secret, encrypted at rest; jobs reference it by name',
  ...scoped('secrets:write'),
  request: { params: nameParam, body: jsonBody(putSecretBodySchema, { value: 's3cr3t-value' }) },
  responses: { 204: { description: 'Stored' }, ...problems(400, 401, 403, 415, 429, 503) },
});

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
  return openApiRoutes<Env>()
    .openapi(listSecrets, async (c) => {
      const names = await vault().list(c.get('principal').tenant);
      return c.json({ secrets: names.map((name) => ({ name })) }, 200);
    })
    .openapi(putSecret, async (c) => {
      const principal = c.get('principal');
      const { name } = c.req.valid('param');
      await vault().put(principal.tenant, name, c.req.valid('json').value, auditMetadata(c, principal));
      return c.body(null, 204);
    });
}
