import { createRoute } from '@hono/zod-openapi';
import { type Kysely, sql } from 'kysely';
import { z } from 'zod';
import type { Database } from '../../events/tables.ts';
import { jobLinks } from '../../jobs/job-view.ts';
import type { JobsTableRow } from '../../jobs/jobs.table.ts';
import { jobsFilterConditions, whereAll } from '../../jobs/jobs-filter.ts';
import { jobListSchema } from '../../schemas/api.schema.ts';
import { jobsFilterQueryFields } from '../../schemas/jobs-filter.schema.ts';
import type { AuthVariables } from './bearer-auth.middleware.ts';
import { exampleJobId, exampleJobLinks } from './openapi-examples.ts';
import { jsonResponse, openApiRoutes, problems, scoped } from './openapi-route.ts';
import { ProblemError } from './problem.ts';
import { readModelOf, visibleTenant } from './read-model-access.ts';
import { hasScope } from './token-verifier.ts';

export interface JobsListRoutesDeps {
  /** The database holding the jobs read model; absent: listing answers 503. */
  readonly db?: Kysely<Database>;
}

type Env = { Variables: AuthVariables & { requestId: string } };

export const jobsListQuerySchema = z
  .object({
    ...jobsFilterQueryFields,
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.string().max(200).optional(),
  })
  .strict();

const listJobs = createRoute({
  method: 'get',
  path: '/',
  tags: ['jobs'],
  summary: "List the tenant's jobs (admins: every tenant), newest first, from the jobs read model",
  ...scoped('jobs:read'),
  request: { query: jobsListQuerySchema },
  responses: {
    200: jsonResponse('A page of jobs and the cursor of the next', jobListSchema, {
      jobs: [
        {
          id: exampleJobId,
          status: 'succeeded',
          image: 'omni-busybox:latest',
          attempt: 1,
          priority: 0,
          submittedBy: 'dev-user',
          submittedAt: '2026-11-30T01:55:42.018Z',
          startedAt: '2026-11-30T01:55:42.111Z',
          finishedAt: '2026-11-30T01:55:42.615Z',
          runAt: null,
          expiresAt: null,
          exitCode: 0,
          failureReason: null,
          command: 'echo hello',
          labels: { team: 'data' },
          links: exampleJobLinks,
        },
      ],
      nextCursor:
        'WyIyMDI2LTExLTMwIDAxOjU1OjQyLjAxOCswMCIsIjhmMGM2YTUyLTNmMGUtNGMzZS05ZDZiLTZkMGYxYzBiOWExMSJd',
    }),
    ...problems(400, 401, 403, 429, 503),
  },
});

/** The columns a listed job shows, plus the exact sort key the cursor carries. */
type ListedRow = Pick<
  JobsTableRow,
  | 'id'
  | 'tenant'
  | 'status'
  | 'image'
  | 'attempt'
  | 'priority'
  | 'submitted_by'
  | 'submitted_at'
  | 'started_at'
  | 'finished_at'
  | 'due_at'
  | 'expires_at'
  | 'exit_code'
  | 'failure_reason'
  | 'labels'
  | 'command'
> & { readonly submitted_at_text: string };

// The cursor is the last row's exact sort key (Postgres' microsecond timestamp text and the id),
// opaque to clients. A JS Date would drop the microseconds and skip or repeat rows.
const encodeCursor = (row: ListedRow) =>
  Buffer.from(JSON.stringify([row.submitted_at_text, row.id])).toString('base64url');

const timestampText =
  /^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01]) ([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?[+-](0\d|1[0-5])(:[0-5]\d)?$/;

/** `submitted_at::text` as Postgres renders it, with a day that exists in its month. */
function isTimestampText(value: string): boolean {
  const match = timestampText.exec(value);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(2000, month - 1, day));
  date.setUTCFullYear(year);
  return year >= 1 && date.getUTCDate() === day;
}

function decodeCursor(cursor: string): readonly [string, string] {
  try {
    const parsed = z
      // The timestamp as Postgres wrote it; anything else would fail its cast in the query (a 500).
      .tuple([z.string().refine(isTimestampText), z.uuid()])
      .parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    return [parsed[0], parsed[1]];
  } catch {
    throw new ProblemError({
      status: 400,
      code: 'validation-failed',
      title: 'The request is invalid',
      errors: [{ pointer: '/query/cursor', detail: 'not a cursor this API issued' }],
    });
  }
}

const iso = (value: Date | null) => value?.toISOString() ?? null;

/**
 * GET /v1/jobs: the caller's tenant's jobs, newest first, from the jobs read model (a projection
 * of the log, so a job appears there a moment after it is accepted). Keyset pagination: stable
 * under concurrent inserts, and every page costs the same.
 */
export function createJobsListRoutes(deps: JobsListRoutesDeps) {
  return openApiRoutes<Env>().openapi(listJobs, async (c) => {
    const db = readModelOf(deps.db);
    const principal = c.get('principal');
    const query = c.req.valid('query');
    const isAdmin = hasScope(principal, 'admin');
    const tenant = visibleTenant(principal, query.tenant);
    const cursor = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    const conditions = [
      ...jobsFilterConditions(query, tenant),
      cursor ? sql`(submitted_at, id) < (${cursor[0]}::timestamptz, ${cursor[1]}::uuid)` : undefined,
    ].filter((condition) => condition !== undefined);
    const { rows } = await sql<ListedRow>`
      select id, tenant, status, image, attempt, priority, submitted_by, submitted_at, submitted_at::text as submitted_at_text,
             started_at, finished_at, due_at, expires_at, exit_code, failure_reason, labels, command
      from jobs ${whereAll(conditions)}
      order by submitted_at desc, id desc
      limit ${query.limit + 1}
    `.execute(db);
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return c.json(
      {
        jobs: page.map((row) => ({
          id: row.id,
          ...(isAdmin ? { tenant: row.tenant } : {}),
          status: row.status,
          image: row.image,
          attempt: row.attempt,
          priority: row.priority,
          submittedBy: row.submitted_by,
          submittedAt: row.submitted_at.toISOString(),
          startedAt: iso(row.started_at),
          finishedAt: iso(row.finished_at),
          runAt: iso(row.due_at),
          expiresAt: iso(row.expires_at),
          exitCode: row.exit_code,
          failureReason: row.failure_reason,
          command: row.command,
          labels: row.labels,
          links: jobLinks(row.id),
        })),
        nextCursor: rows.length > query.limit && last ? encodeCursor(last) : null,
      },
      200,
    );
  });
}
