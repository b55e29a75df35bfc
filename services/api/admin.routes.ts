import { createRoute } from '@hono/zod-openapi';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../../events/tables.ts';
import { verifyChain } from '../../events/verify-chain.ts';
import { createVerifyRuns, type VerifyRun } from '../../events/verify-runs.ts';
import type { BlobStore } from '../../files/blob-store.ts';
import { verifyStoredFiles } from '../../files/verify-files.ts';
import { chainVerificationSchema } from '../../schemas/api.schema.ts';
import { verifyRunSchema, verifyStartQuerySchema } from '../../schemas/verify-run.schema.ts';
import type { AuthVariables } from './bearer-auth.middleware.ts';
import { exampleVerifyRun } from './openapi-examples.ts';
import { jsonResponse, openApiRoutes, problems, scoped } from './openapi-route.ts';
import { ProblemError } from './problem.ts';

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

const runIdParam = z.object({ id: z.string().meta({ example: exampleVerifyRun.id }) });

const pendingRun = (description: string) => ({
  ...jsonResponse(description, verifyRunSchema, exampleVerifyRun),
  headers: z.object({ location: z.string().meta({ description: "The run's URL" }) }),
});

const verifyAll = createRoute({
  method: 'get',
  path: '/verify',
  tags: ['admin'],
  summary:
    "Verify every stream's hash chain (and stored files): the result when the deployment's run " +
    "ends within a third of the handler timeout, else 202 with the run's location",
  ...scoped('admin'),
  responses: {
    200: jsonResponse('The verification (ok: false names the broken event)', chainVerificationSchema, {
      ok: true,
      eventsChecked: 42,
    }),
    202: pendingRun('Still running: Location names the run to poll'),
    ...problems(401, 403, 429, 503),
  },
});

const startVerify = createRoute({
  method: 'post',
  path: '/verify',
  tags: ['admin'],
  summary:
    'Start a verification run in the background, or join the one running (one per deployment); ' +
    'since=checkpoint walks only what committed after the last run that held',
  ...scoped('admin'),
  request: { query: verifyStartQuerySchema },
  responses: { 202: pendingRun('The run; Location names it'), ...problems(400, 401, 403, 429) },
});

const getRun = createRoute({
  method: 'get',
  path: '/verify/runs/{id}',
  tags: ['admin'],
  summary: 'A verification run: progress, then its result (from any replica)',
  ...scoped('admin'),
  request: { params: runIdParam },
  responses: {
    200: jsonResponse('The run (abandoned: its owner process died)', verifyRunSchema, {
      ...exampleVerifyRun,
      status: 'finished',
      eventsChecked: 300000,
      finishedAt: '2026-12-02T07:20:13.743Z',
      result: { ok: true, eventsChecked: 300000 },
    }),
    ...problems(401, 403, 404, 429),
  },
});

const stopRun = createRoute({
  method: 'delete',
  path: '/verify/runs/{id}',
  tags: ['admin'],
  summary: 'Stop a verification run after its current batch',
  ...scoped('admin'),
  request: { params: runIdParam },
  responses: {
    202: jsonResponse('The run, stopping', verifyRunSchema, exampleVerifyRun),
    200: jsonResponse('The run, which had already ended', verifyRunSchema, {
      ...exampleVerifyRun,
      status: 'stopped',
      finishedAt: '2026-12-02T07:20:12.001Z',
    }),
    ...problems(401, 403, 404, 429),
  },
});

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
  const pendingHeaders = (run: VerifyRun) => ({ location: runPath(run), 'retry-after': '1' });

  return (
    openApiRoutes<{ Variables: AuthVariables }>()
      // A broken chain is a finding, not a failed request: 200 with `ok: false`, so monitors read the body.
      .openapi(verifyAll, async (c) => {
        const { run } = await runs.start();
        const settled = (await runs.wait(run.id, answerWithinMs)) ?? run;
        if (settled.status === 'running') return c.json(settled, 202, pendingHeaders(settled));
        // A finished run holds what the chain walk reported (stored as JSON, read back untyped).
        if (settled.status === 'finished' && settled.result)
          return c.json(settled.result as z.infer<typeof chainVerificationSchema>, 200);
        throw new ProblemError({
          status: 503,
          code: 'verify-interrupted',
          title: 'The verification run did not finish',
          detail: `the run ended ${settled.status}; start another`,
          headers: { location: runPath(settled) },
        });
      })
      .openapi(startVerify, async (c) => {
        const { since } = c.req.valid('query');
        const { run } = await runs.start({ sinceCheckpoint: since === 'checkpoint' });
        return c.json(run, 202, pendingHeaders(run));
      })
      .openapi(getRun, async (c) => {
        const { id } = c.req.valid('param');
        const run = uuid.test(id) ? await runs.get(id) : undefined;
        if (!run) throw notFound();
        return c.json(run, 200);
      })
      .openapi(stopRun, async (c) => {
        const { id } = c.req.valid('param');
        const run = uuid.test(id) ? await runs.stop(id) : undefined;
        if (!run) throw notFound();
        return run.status === 'running' ? c.json(run, 202) : c.json(run, 200);
      })
  );
}
