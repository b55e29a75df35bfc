import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import type { Kysely } from 'kysely';
import type { Database } from '../../events/tables.ts';
import { verifyChain } from '../../events/verify-chain.ts';
import { createVerifyRuns, type VerifyRun } from '../../events/verify-runs.ts';
import type { BlobStore } from '../../files/blob-store.ts';
import { verifyStoredFiles } from '../../files/verify-files.ts';
import { verifyStartQuerySchema } from '../../schemas/verify-run.schema.ts';
import { ProblemError } from './problem.ts';
import { validationHook } from './validation-hook.ts';

export interface AdminRoutesDeps {
  readonly db: Kysely<Database>;
  /** Where file bytes live; given, verify also checks every stored file against the log. */
  readonly blobs?: Pick<BlobStore, 'get'>;
  /**
   * How long `GET /verify` waits for the run before answering 202 with its location; keep it well
   * under the handler timeout (default 5 s).
   */
  readonly answerWithinMs?: number;
  /** A run that failed (not a broken chain: an error), for the log. */
  readonly onError?: (error: unknown) => void;
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const runPath = (run: VerifyRun) => `/v1/admin/verify/runs/${run.id}`;

const notFound = () =>
  new ProblemError({ status: 404, code: 'verify-run-not-found', title: 'No such verification run' });

/**
 * Operator routes (mounted under /v1/admin behind an admin scope). Verifying walks the whole log, so
 * it runs in the background, one run at a time per deployment, owned by the process that holds its
 * lock: `POST /verify` starts (or joins) a run and answers 202 with its location, `GET
 * /verify/runs/:id` reports it, `DELETE /verify/runs/:id` stops it. `GET /verify` answers with the
 * result when the run finishes quickly and with 202 and the location otherwise.
 */
export function createAdminRoutes(deps: AdminRoutesDeps) {
  const answerWithinMs = deps.answerWithinMs ?? 5000;
  const runs = createVerifyRuns({
    db: deps.db,
    ...(deps.onError ? { onError: deps.onError } : {}),
    work: async ({ db, sinceTransactionId, onProgress }) => {
      const chain = await verifyChain(db, {
        onProgress,
        ...(sinceTransactionId === undefined ? {} : { sinceTransactionId }),
      });
      if (!deps.blobs) return chain;
      const files = await verifyStoredFiles(db, deps.blobs);
      return { ...chain, ok: chain.ok && files.ok, files };
    },
  });
  const pending = (run: VerifyRun) =>
    new Response(JSON.stringify(run), {
      status: 202,
      headers: { 'content-type': 'application/json', location: runPath(run), 'retry-after': '1' },
    });

  return (
    new Hono()
      // A broken chain is a finding, not a failed request: 200 with `ok: false`, so monitors read the body.
      .get('/verify', async (c) => {
        const { run } = await runs.start();
        const settled = (await runs.wait(run.id, answerWithinMs)) ?? run;
        if (settled.status === 'running') return pending(settled);
        if (settled.status === 'finished' && settled.result) return c.json(settled.result);
        throw new ProblemError({
          status: 503,
          code: 'verify-interrupted',
          title: 'The verification run did not finish',
          detail: `the run ended ${settled.status}; start another`,
          headers: { location: runPath(settled) },
        });
      })
      .post('/verify', zValidator('query', verifyStartQuerySchema, validationHook), async (c) => {
        const { since } = c.req.valid('query');
        const { run } = await runs.start({ sinceCheckpoint: since === 'checkpoint' });
        return pending(run);
      })
      .get('/verify/runs/:id', async (c) => {
        const id = c.req.param('id');
        const run = uuid.test(id) ? await runs.get(id) : undefined;
        if (!run) throw notFound();
        return c.json(run);
      })
      .delete('/verify/runs/:id', async (c) => {
        const id = c.req.param('id');
        const run = uuid.test(id) ? await runs.stop(id) : undefined;
        if (!run) throw notFound();
        return c.json(run, run.status === 'running' ? 202 : 200);
      })
  );
}
