import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import { type Kysely, sql } from 'kysely';
import { z } from 'zod';
import type { Database } from '../../events/tables.ts';
import { jobsFilterConditions, whereAll } from '../../jobs/jobs-filter.ts';
import { jobStatusSchema } from '../../schemas/job-status.schema.ts';
import { jobsFilterQueryFieldsWithoutStatus } from '../../schemas/jobs-filter.schema.ts';
import { type AuthVariables, requireScope } from './bearer-auth.middleware.ts';
import { readModelOf, visibleTenant } from './read-model-access.ts';
import { validationHook } from './validation-hook.ts';

export interface JobCountsRoutesDeps {
  /** The database holding the jobs read model; absent: counting answers 503. */
  readonly db?: Kysely<Database>;
}

type Env = { Variables: AuthVariables & { requestId: string } };

const statuses = jobStatusSchema.options;

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

/** The list's filters but the status: the counts are what each status tab would hold. */
export const jobCountsQuerySchema = z.object(jobsFilterQueryFieldsWithoutStatus).strict();

/**
 * GET /v1/jobs/counts: how many of the caller's tenant's jobs the list's filter matches in each
 * status, from the jobs read model in one GROUP BY (every status is present, 0 when none).
 */
export function createJobCountsRoutes(deps: JobCountsRoutesDeps) {
  return new Hono<Env>().get(
    '/counts',
    requireScope('jobs:read'),
    zValidator('query', jobCountsQuerySchema, validationHook),
    async (c) => {
      const db = readModelOf(deps.db);
      const principal = c.get('principal');
      const query = c.req.valid('query');
      const tenant = visibleTenant(principal, query.tenant);
      const { rows } = await sql<{ status: string; count: string }>`
        select status, count(*) as count from jobs ${whereAll(jobsFilterConditions(query, tenant))} group by status
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
