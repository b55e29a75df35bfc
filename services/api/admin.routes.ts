import { Hono } from 'hono';
import type { Kysely } from 'kysely';
import type { Database } from '../../events/tables.ts';
import { verifyChain } from '../../events/verify-chain.ts';

export interface AdminRoutesDeps {
  readonly db: Kysely<Database>;
}

/**
 * Operator routes (mounted under /v1/admin behind an admin scope). `GET /verify` walks the whole
 * log: its cost grows with the log, so it is for operators and monitors, not for every client.
 */
export function createAdminRoutes(deps: AdminRoutesDeps) {
  // A broken chain is a finding, not a failed request: 200 with `ok: false`, so monitors read the body.
  return new Hono().get('/verify', async (c) => c.json(await verifyChain(deps.db)));
}
