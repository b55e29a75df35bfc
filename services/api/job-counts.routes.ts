import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import { type Kysely, sql } from 'kysely';
import { z } from 'zod';
import type { Database } from '../../events/tables.ts';
import { queryInstantSchema } from '../../schemas/input-bounds.ts';
import { type AuthVariables, requireScope } from './bearer-auth.middleware.ts';
import { ProblemError } from './problem.ts';
import { hasScope } from './token-verifier.ts';
import { validationHook } from './validation-hook.ts';

export interface JobCountsRoutesDeps {
  /** The database holding the jobs read model; absent: counting answers 503. */
  readonly db?: Kysely<Database>;
}

type Env = { Variables: AuthVariables & { requestId: string } };

const statuses = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired'] as const;

const count = z.number().int().nonnegative();
export const jobCountsSchema = z.object({
  counts: z.object(
    Object.fromEntries(statuses.map((status) => [status, count])) as Record<
      (typeof statuses)[number],
      typeof count
    >,
  ),
  total: count,
});

/** The list's filters that do not name a status: the counts are what each status tab would hold. */
export const jobCountsQuerySchema = z
  .object({
    image: z.string().min(1).max(255).optional(),
    submittedBy: z.string().min(1).max(255).optional(),
    submittedAfter: queryInstantSchema.optional(),
    submittedBefore: queryInstantSchema.optional(),
    // Admins only, as in the list: without it an admin counts every tenant.
    tenant: z.string().min(1).max(255).optional(),
  })
  .strict();

/**
 * GET /v1/jobs/counts: how many of the caller's tenant's jobs are in each status, from the jobs
 * read model in one GROUP BY (every status is present, 0 when none).
 */
export function createJobCountsRoutes(deps: JobCountsRoutesDeps) {
  return new Hono<Env>().get(
    '/counts',
    requireScope('jobs:read'),
    zValidator('query', jobCountsQuerySchema, validationHook),
    async (c) => {
      const { db } = deps;
      if (!db)
        throw new ProblemError({
          status: 503,
          code: 'listing-unavailable',
          title: 'Listing is not available here',
        });
      const principal = c.get('principal');
      const query = c.req.valid('query');
      const tenant = hasScope(principal, 'admin') ? query.tenant : principal.tenant;
      const filters = [
        tenant === undefined ? undefined : sql`tenant = ${tenant}`,
        query.image === undefined ? undefined : sql`image = ${query.image}`,
        query.submittedBy === undefined ? undefined : sql`submitted_by = ${query.submittedBy}`,
        query.submittedAfter === undefined
          ? undefined
          : sql`submitted_at >= ${query.submittedAfter}::timestamptz`,
        query.submittedBefore === undefined
          ? undefined
          : sql`submitted_at < ${query.submittedBefore}::timestamptz`,
      ].filter((filter) => filter !== undefined);
      const where = filters.length > 0 ? sql`where ${sql.join(filters, sql` and `)}` : sql``;
      const { rows } = await sql<{ status: string; count: string }>`
        select status, count(*) as count from jobs ${where} group by status
      `.execute(db);
      const counts = Object.fromEntries(statuses.map((status) => [status, 0])) as Record<
        (typeof statuses)[number],
        number
      >;
      for (const row of rows)
        if (row.status in counts) counts[row.status as keyof typeof counts] = Number(row.count);
      const total = Object.values(counts).reduce((sum, count) => sum + count, 0);
      return c.json<z.infer<typeof jobCountsSchema>>({ counts, total });
    },
  );
}
