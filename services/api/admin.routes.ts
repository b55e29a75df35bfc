import { Hono } from 'hono';
import type { Kysely } from 'kysely';
import type { Database } from '../../events/tables.ts';
import { verifyChain } from '../../events/verify-chain.ts';
import type { BlobStore } from '../files/blob-store.ts';
import { verifyStoredFiles } from '../files/verify-files.ts';

export interface AdminRoutesDeps {
  readonly db: Kysely<Database>;
  /** Where file bytes live; given, verify also checks every stored file against the log. */
  readonly blobs?: Pick<BlobStore, 'get'>;
}

/**
 * Operator routes (mounted under /v1/admin behind an admin scope). `GET /verify` walks the whole
 * log: its cost grows with the log, so it is for operators and monitors, not for every client.
 */
export function createAdminRoutes(deps: AdminRoutesDeps) {
  // A broken chain is a finding, not a failed request: 200 with `ok: false`, so monitors read the body.
  return new Hono().get('/verify', async (c) => {
    const chain = await verifyChain(deps.db);
    if (!deps.blobs) return c.json(chain);
    const files = await verifyStoredFiles(deps.db, deps.blobs);
    return c.json({ ...chain, ok: chain.ok && files.ok, files });
  });
}
