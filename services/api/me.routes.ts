import { createRoute } from '@hono/zod-openapi';
import { z } from 'zod';
import type { AuthVariables } from './bearer-auth.middleware.ts';
import { jsonResponse, openApiRoutes, problems } from './openapi-route.ts';

type Env = { Variables: AuthVariables };

export const meSchema = z
  .object({
    subject: z.string(),
    tenant: z.string(),
    scopes: z.array(z.string()),
    expiresAt: z.string().nullable(),
  })
  .meta({ id: 'Me' });

// Any valid token may ask who it is: no scope, but a token.
const me = createRoute({
  method: 'get',
  path: '/',
  tags: ['me'],
  summary: 'Who the bearer token says you are: subject, tenant, scopes, expiry',
  security: [{ bearer: [] }],
  responses: {
    200: jsonResponse('The verified principal', meSchema, {
      subject: 'dev-user',
      tenant: 'default',
      scopes: ['jobs:read'],
      expiresAt: null,
    }),
    ...problems(401, 429),
  },
});

/** GET /v1/me: the verified principal, so a client (the console) can show who it is and what it may do. */
export function createMeRoutes() {
  return openApiRoutes<Env>().openapi(me, (c) => {
    const principal = c.get('principal');
    return c.json(
      {
        subject: principal.subject,
        tenant: principal.tenant,
        scopes: [...principal.scopes].sort(),
        expiresAt: principal.expiresAt === undefined ? null : new Date(principal.expiresAt).toISOString(),
      },
      200,
    );
  });
}
