import { createRoute } from '@hono/zod-openapi';
import { type Kysely, sql } from 'kysely';
import { z } from 'zod';
import type { Database } from '../../events/tables.ts';
import { jobsFilterConditions, whereAll } from '../../jobs/jobs-filter.ts';
import { jobStatusSchema } from '../../schemas/job-status.schema.ts';
import { jobsFilterQueryFieldsWithoutStatus } from '../../schemas/jobs-filter.schema.ts';
import type { AuthVariables } from './bearer-auth.middleware.ts';
import { jsonResponse, openApiRoutes, problems, scoped } from './openapi-route.ts';
import { readModelOf, visibleTenant } from './read-model-access.ts';

export interface JobCountsRoutesDeps {
  /** The database holding the jobs read model; absent: counting answers 503. */
  readonly db?: Kysely<Database>;
}

type Env = { Variables: AuthVariables & { requestId: string } };

const statuses = jobStatusSchema.options;

const count = z.number().int().nonnegative();
export const jobCountsSchema = z
  .object({
    counts: z.object(
      Object.fromEntries(statuses.map((status) => [status, count])) as Record<
        (typeof statuses)[number],
        typeof count
      >,
    ),
    total: count,
  })
  .meta({ id: 'JobCounts' });

/** The list's filters but the status: the counts are what each status tab would hold. */
export const jobCountsQuerySchema = z.object(jobsFilterQueryFieldsWithoutStatus).strict();

const jobCounts = createRoute({
  method: 'get',
  path: '/counts',
  tags: ['jobs'],
  summary: "How many of the tenant's jobs are in each status (the list's filters but status)",
  ...scoped('jobs:read'),
  request: { query: jobCountsQuerySchema },
  responses: {
    200: jsonResponse('Counts per status', jobCountsSchema, {
      counts: { queued: 2, running: 1, succeeded: 40, failed: 3, cancelled: 0, expired: 0 },
      total: 46,
    }),
    ...problems(400, 401, 403, 429, 503),
  },
});

/**
 * GET /v1/jobs/counts: how many of the caller's tenant's jobs the list's filter matches in each
 * status, from the jobs read model in one GROUP BY (every status is present, 0 when none).
 */
export function createJobCountsRoutes(deps: JobCountsRoutesDeps) {
  return openApiRoutes<Env>().openapi(jobCounts, async (c) => {
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
    return c.json({ counts, total }, 200);
  });
}
