import { createRoute } from '@hono/zod-openapi';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { EventStore } from '../../events/event-store.ts';
import type { Database } from '../../events/tables.ts';
import { verifyStream } from '../../events/verify-stream.ts';
import { jobStreamId } from '../../jobs/job-stream.ts';
import type { AuthVariables } from './bearer-auth.middleware.ts';
import { jobIdParam, loadVisibleJob } from './jobs.routes.ts';
import { jsonResponse, openApiRoutes, problems, scoped } from './openapi-route.ts';
import { ProblemError } from './problem.ts';

export interface JobVerifyRoutesDeps {
  readonly store: EventStore;
  /** The chain is recomputed by the database; absent: the route answers 503. */
  readonly db?: Kysely<Database>;
}

type Env = { Variables: AuthVariables & { requestId: string } };

export const jobVerificationSchema = z
  .object({
    verified: z.boolean(),
    events: z.number().int().nonnegative(),
    lastPosition: z.number().int().nonnegative(),
    lastVersion: z.number().int().nonnegative(),
    firstBadVersion: z.number().int().positive().optional(),
    problem: z.enum(['hash-mismatch', 'missing-previous', 'stream-head-mismatch']).optional(),
  })
  .meta({ id: 'JobVerification' });

const verifyJob = createRoute({
  method: 'get',
  path: '/{id}/verify',
  tags: ['jobs'],
  summary: "Recompute the job stream's hash chain: verified, or the first version that does not hold",
  ...scoped('jobs:read'),
  request: { params: jobIdParam },
  responses: {
    200: jsonResponse('What the chain check found', jobVerificationSchema, {
      verified: false,
      events: 7,
      lastPosition: 5120,
      lastVersion: 7,
      firstBadVersion: 4,
      problem: 'hash-mismatch',
    }),
    ...problems(401, 403, 404, 429, 503),
  },
});

/**
 * GET /v1/jobs/:id/verify (jobs:read): recomputes the job stream's hash chain in the database and
 * says whether its history holds, or the first version that does not: the job page's "history
 * verified" badge. Tenant-checked like every job read.
 */
export function createJobVerifyRoutes(deps: JobVerifyRoutesDeps) {
  return openApiRoutes<Env>().openapi(verifyJob, async (c) => {
    const { db } = deps;
    if (!db) {
      throw new ProblemError({
        status: 503,
        code: 'verify-unavailable',
        title: 'No database to verify against',
      });
    }
    const id = c.req.valid('param').id;
    await loadVisibleJob(deps.store, id, c.get('principal'));
    return c.json(await verifyStream(db, jobStreamId(id)), 200);
  });
}
