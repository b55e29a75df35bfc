import { randomUUID } from 'node:crypto';
import { createRoute } from '@hono/zod-openapi';
import { type Kysely, sql } from 'kysely';
import { z } from 'zod';
import type { EventMetadata, EventStore } from '../../events/event-store.ts';
import { ConcurrencyError } from '../../events/event-store-errors.ts';
import type { Database } from '../../events/tables.ts';
import type { JobCommand } from '../../jobs/job.decider.ts';
import { JobDomainError } from '../../jobs/job-domain-error.ts';
import { executeJobCommand, loadJob } from '../../jobs/job-stream.ts';
import { jobsFilterConditions, whereAll } from '../../jobs/jobs-filter.ts';
import { type JobsFilter, jobsFilterBodySchema } from '../../schemas/jobs-filter.schema.ts';
import { auditMetadata } from './audit-metadata.ts';
import type { AuthVariables } from './bearer-auth.middleware.ts';
import { exampleJobId } from './openapi-examples.ts';
import { jsonBody, jsonResponse, openApiRoutes, problems, scoped } from './openapi-route.ts';
import { ProblemError } from './problem.ts';
import { readModelOf, visibleTenant } from './read-model-access.ts';
import { hasScope, type Principal } from './token-verifier.ts';

export interface JobBulkRoutesDeps {
  readonly store: EventStore;
  /** The jobs read model the filter is matched against; absent: bulk actions answer 503. */
  readonly db?: Kysely<Database>;
}

type Env = { Variables: AuthVariables & { requestId: string } };

/** The most jobs one operation may touch: a larger selection must be narrowed (or run in parts). */
export const maxBulkJobs = 1000;

/** The list's filter, as a JSON body: what GET /v1/jobs would show is what the action touches. */
export const bulkFilterSchema = jobsFilterBodySchema;

export const bulkActionBodySchema = z
  .object({
    filter: bulkFilterSchema,
    reason: z.string().min(1).max(1000).optional(),
    // Only count what matches (the console's confirmation), change nothing.
    dryRun: z.boolean().default(false),
    // Refuse rather than touch more than this many jobs (the count the operator confirmed).
    maxJobs: z.number().int().min(1).max(maxBulkJobs).default(maxBulkJobs),
  })
  .strict();

const outcomes = ['changed', 'unchanged', 'refused', 'missing'] as const;
export const bulkActionResultSchema = z
  .object({
    operationId: z.string().nullable(),
    action: z.enum(['cancel', 'retry']),
    dryRun: z.boolean(),
    matched: z.number().int().nonnegative(),
    results: z.array(
      z.object({
        id: z.string(),
        outcome: z.enum(outcomes),
        status: z.string().nullable(),
        code: z.string().optional(),
        detail: z.string().optional(),
      }),
    ),
    summary: z.record(z.enum(outcomes), z.number().int().nonnegative()),
  })
  .meta({ id: 'BulkActionResult' });
type BulkResult = z.infer<typeof bulkActionResultSchema>;

const bulkRoute = (action: 'cancel' | 'retry') =>
  createRoute({
    method: 'post',
    path: `/bulk-${action}`,
    tags: ['jobs'],
    summary: `${action === 'cancel' ? 'Cancel' : 'Retry'} every job the list filter matches (at most maxJobs), as one operation whose id every event carries`,
    ...scoped(action === 'cancel' ? 'jobs:cancel' : 'jobs:submit'),
    request: {
      body: jsonBody(bulkActionBodySchema, {
        filter: { status: ['failed'], label: ['team=data'] },
        reason: 'disk replaced',
        maxJobs: 50,
      }),
    },
    responses: {
      200: jsonResponse('What happened to each job (dryRun: only how many match)', bulkActionResultSchema, {
        operationId: '0b9a7f1e-2d4c-4e5f-8a6b-7c8d9e0f1a2b',
        action,
        dryRun: false,
        matched: 1,
        results: [
          { id: exampleJobId, outcome: 'changed', status: action === 'cancel' ? 'cancelled' : 'queued' },
        ],
        summary: { changed: 1, unchanged: 0, refused: 0, missing: 0 },
      }),
      ...problems(400, 401, 403, 415, 429, 503),
    },
  });

async function matchingJobIds(db: Kysely<Database>, filter: JobsFilter, principal: Principal, limit: number) {
  const tenant = visibleTenant(principal, filter.tenant);
  const { rows } = await sql<{ id: string }>`
    select id from jobs ${whereAll(jobsFilterConditions(filter, tenant))} order by submitted_at, id limit ${limit}
  `.execute(db);
  return rows.map((row) => row.id);
}

/** Runs `work` over `items`, at most `width` at a time, keeping their order in the answer. */
async function inParallel<T, R>(
  items: readonly T[],
  width: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    for (let index = next++; index < items.length; index = next++)
      results[index] = await work(items[index] as T);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
  return results;
}

/**
 * POST /v1/jobs/bulk-cancel and /v1/jobs/bulk-retry: the action on every job the list filter
 * matches in the read model (at most `maxJobs`), each decided on the job's own stream as the
 * single-job routes do. Every event carries one `operationId` and the operator as actor, so the
 * log shows what one operation did; the answer says what happened to each job.
 */
export function createJobBulkRoutes(deps: JobBulkRoutesDeps) {
  const perform = async (
    action: 'cancel' | 'retry',
    principal: Principal,
    body: z.output<typeof bulkActionBodySchema>,
    metadataFor: (id: string, operationId: string) => EventMetadata,
  ): Promise<BulkResult> => {
    const db = readModelOf(deps.db);
    const ids = await matchingJobIds(db, body.filter, principal, body.maxJobs + 1);
    if (ids.length > body.maxJobs) {
      throw new ProblemError({
        status: 400,
        code: 'bulk-too-many',
        title: 'The filter matches too many jobs',
        detail: `more than ${body.maxJobs} jobs match: narrow the filter or raise maxJobs (at most ${maxBulkJobs})`,
        errors: [{ pointer: '/maxJobs', detail: `more than ${body.maxJobs} jobs match` }],
      });
    }
    const summary = Object.fromEntries(outcomes.map((outcome) => [outcome, 0])) as BulkResult['summary'];
    if (body.dryRun)
      return { operationId: null, action, dryRun: true, matched: ids.length, results: [], summary };
    const operationId = randomUUID();
    const command = (): JobCommand =>
      action === 'cancel'
        ? { type: 'CancelJob', ...(body.reason === undefined ? {} : { reason: body.reason }) }
        : {
            type: 'RetryJob',
            requestedBy: principal.subject,
            now: new Date(),
            ...(body.reason === undefined ? {} : { comment: body.reason }),
          };
    const results = await inParallel(ids, 8, async (id): Promise<BulkResult['results'][number]> => {
      for (let attempt = 1; ; attempt += 1) {
        const loaded = await loadJob(deps.store, id);
        const { state } = loaded;
        // The read model matched it; the stream decides (another tenant's job is never touched).
        if (
          state.status === 'initial' ||
          (state.tenant !== principal.tenant && !hasScope(principal, 'admin'))
        )
          return { id, outcome: 'missing', status: null };
        try {
          const { events } = await executeJobCommand(
            deps.store,
            id,
            command(),
            metadataFor(id, operationId),
            loaded,
          );
          if (events.length === 0) return { id, outcome: 'unchanged', status: state.status };
          return { id, outcome: 'changed', status: (await loadJob(deps.store, id)).state.status };
        } catch (error) {
          if (error instanceof ConcurrencyError && attempt < 10) continue;
          if (error instanceof JobDomainError)
            return { id, outcome: 'refused', status: state.status, code: error.code, detail: error.message };
          throw error;
        }
      }
    });
    for (const result of results) summary[result.outcome] += 1;
    return { operationId, action, dryRun: false, matched: ids.length, results, summary };
  };
  return openApiRoutes<Env>()
    .openapi(bulkRoute('cancel'), async (c) => {
      const principal = c.get('principal');
      const result = await perform('cancel', principal, c.req.valid('json'), (id, operationId) =>
        auditMetadata(c, principal, { correlationId: id, operationId, operation: 'bulk-cancel' }),
      );
      return c.json(result, 200);
    })
    .openapi(bulkRoute('retry'), async (c) => {
      const principal = c.get('principal');
      const result = await perform('retry', principal, c.req.valid('json'), (id, operationId) =>
        auditMetadata(c, principal, { correlationId: id, operationId, operation: 'bulk-retry' }),
      );
      return c.json(result, 200);
    });
}
