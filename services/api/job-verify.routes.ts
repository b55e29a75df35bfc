import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { EventStore } from '../../events/event-store.ts';
import type { Database } from '../../events/tables.ts';
import { verifyStream } from '../../events/verify-stream.ts';
import { jobStreamId } from '../../jobs/job-stream.ts';
import { type AuthVariables, requireScope } from './bearer-auth.middleware.ts';
import { loadVisibleJob } from './jobs.routes.ts';
import { ProblemError } from './problem.ts';

export interface JobVerifyRoutesDeps {
  readonly store: EventStore;
  /** The chain is recomputed by the database; absent: the route answers 503. */
  readonly db?: Kysely<Database>;
}

type Env = { Variables: AuthVariables & { requestId: string } };

const idParam = z.object({ id: z.string() });

export const jobVerificationSchema = z.object({
  verified: z.boolean(),
  events: z.number().int().nonnegative(),
  lastPosition: z.number().int().nonnegative(),
  lastVersion: z.number().int().nonnegative(),
  firstBadVersion: z.number().int().positive().optional(),
  problem: z.enum(['hash-mismatch', 'missing-previous', 'stream-head-mismatch']).optional(),
});

/**
 * GET /v1/jobs/:id/verify (jobs:read): recomputes the job stream's hash chain in the database and
 * says whether its history holds, or the first version that does not: the job page's "history
 * verified" badge. Tenant-checked like every job read.
 */
export function createJobVerifyRoutes(deps: JobVerifyRoutesDeps) {
  return new Hono<Env>().get(
    '/:id/verify',
    requireScope('jobs:read'),
    zValidator('param', idParam),
    async (c) => {
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
      return c.json<z.infer<typeof jobVerificationSchema>>(await verifyStream(db, jobStreamId(id)));
    },
  );
}
