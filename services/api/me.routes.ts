import { Hono } from 'hono';
import { z } from 'zod';
import type { AuthVariables } from './bearer-auth.middleware.ts';

type Env = { Variables: AuthVariables };

export const meSchema = z.object({
  subject: z.string(),
  tenant: z.string(),
  scopes: z.array(z.string()),
  expiresAt: z.string().nullable(),
});

/** GET /v1/me: the verified principal, so a client (the console) can show who it is and what it may do. */
export function createMeRoutes() {
  return new Hono<Env>().get('/', (c) => {
    const principal = c.get('principal');
    return c.json<z.infer<typeof meSchema>>({
      subject: principal.subject,
      tenant: principal.tenant,
      scopes: [...principal.scopes].sort(),
      expiresAt: principal.expiresAt === undefined ? null : new Date(principal.expiresAt).toISOString(),
    });
  });
}
