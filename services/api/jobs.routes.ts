import { createRoute } from '@hono/zod-openapi';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { createEventStore, type EventStore } from '../../events/event-store.ts';
import type { Database } from '../../events/tables.ts';
import { executeJobCommand, type LoadedJob, loadJob, newJob } from '../../jobs/job-stream.ts';
import { jobLinks, toEventView, toJobView } from '../../jobs/job-view.ts';
import { jobAcceptedSchema, jobEventsSchema, jobViewSchema } from '../../schemas/api.schema.ts';
import { eventReadSchemas } from '../../schemas/event-read-schemas.ts';
import { auditMetadata } from './audit-metadata.ts';
import type { AuthVariables } from './bearer-auth.middleware.ts';
import { parseIdempotencyKey, requestHash, withIdempotencyKey } from './idempotency.ts';
import { prepareSubmission, type SubmissionDeps, submitBodySchema } from './job-submission.ts';
import { exampleJobEvent, exampleJobId, exampleJobLinks, exampleJobView } from './openapi-examples.ts';
import { jsonBody, jsonResponse, openApiRoutes, problems, scoped } from './openapi-route.ts';
import { ProblemError } from './problem.ts';
import { hasScope, type Principal } from './token-verifier.ts';

export interface JobsRoutesDeps extends SubmissionDeps {
  readonly store: EventStore;
  /** For idempotency keys and the jobs read model; absent: neither is offered (503). */
  readonly db?: Kysely<Database>;
}

type Env = { Variables: AuthVariables & { requestId: string } };

const notFound = () => new ProblemError({ status: 404, code: 'job-not-found', title: 'No such job' });

/** A job's id in the path; any string, so a malformed one answers 404 like a missing job. */
export const jobIdParam = z.object({ id: z.string().meta({ example: exampleJobId }) });

/** The most events one page of a job's history holds (and the default). */
const maxJobEventsPage = 1000;

/** A page of a job's history: the events after stream version `after`, at most `limit` of them. */
export const jobEventsQuerySchema = z
  .object({
    after: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    limit: z.coerce.number().int().min(1).max(maxJobEventsPage).default(maxJobEventsPage),
  })
  .strict();

const submitRoute = (body: ReturnType<typeof submitBodySchema>) =>
  createRoute({
    method: 'post',
    path: '/',
    tags: ['jobs'],
    summary: 'Submit a job',
    description:
      'An `Idempotency-Key` header makes a retry safe: the same key and body answer 200 with the job it made.',
    ...scoped('jobs:submit'),
    request: {
      headers: z.object({ 'idempotency-key': z.string().optional() }),
      body: jsonBody(body, {
        image: 'omni-busybox:latest',
        command: ['echo', 'hello'],
        timeoutMs: 5000,
        limits: { memoryBytes: 67108864 },
      }),
    },
    responses: {
      202: jsonResponse('Accepted: the job is queued', jobAcceptedSchema, {
        id: exampleJobId,
        status: 'queued',
        links: exampleJobLinks,
      }),
      200: jsonResponse(
        'Replayed: the Idempotency-Key named this job already',
        jobViewSchema,
        exampleJobView,
      ),
      ...problems(400, 401, 403, 409, 413, 415, 429, 503),
    },
  });

const getJob = createRoute({
  method: 'get',
  path: '/{id}',
  tags: ['jobs'],
  summary: "A job's current state, folded from its events",
  ...scoped('jobs:read'),
  request: { params: jobIdParam },
  responses: {
    200: jsonResponse('The job', jobViewSchema, exampleJobView),
    ...problems(401, 403, 404, 429),
  },
});

const jobEvents = createRoute({
  method: 'get',
  path: '/{id}/events',
  tags: ['jobs'],
  summary: "A job's history: its events in order, a page (at most 1000) at a time",
  ...scoped('events:read'),
  request: { params: jobIdParam, query: jobEventsQuerySchema },
  responses: {
    200: jsonResponse('A page of events and the `after` of the next page', jobEventsSchema, {
      id: exampleJobId,
      events: [exampleJobEvent],
      next: null,
    }),
    ...problems(400, 401, 403, 404, 429),
  },
});

/**
 * Loads a job the principal may see. Another tenant's job answers exactly like a missing one, so
 * ids leak nothing across tenants; a malformed id cannot name a job either.
 */
export async function loadVisibleJob(
  store: EventStore,
  id: string,
  principal: Principal,
): Promise<LoadedJob> {
  if (!z.uuid().safeParse(id).success) throw notFound();
  const loaded = await loadJob(store, id);
  if (loaded.state.status === 'initial') throw notFound();
  if (loaded.state.tenant !== principal.tenant && !hasScope(principal, 'admin')) throw notFound();
  return loaded;
}

/** /v1/jobs: submit a job, read its folded state, read its history. */
export function createJobsRoutes(deps: JobsRoutesDeps) {
  return openApiRoutes<Env>()
    .openapi(submitRoute(submitBodySchema(deps.policy).meta({ id: 'JobSubmission' })), async (c) => {
      const principal = c.get('principal');
      const input = c.req.valid('json');
      const { id, command, callbackSecret } = await prepareSubmission(deps, principal, input, new Date());
      const idempotencyKey = parseIdempotencyKey(c.req.header('idempotency-key'));
      const metadata = auditMetadata(c, principal, { correlationId: id });
      if (idempotencyKey !== undefined) {
        if (!deps.db)
          throw new ProblemError({
            status: 503,
            code: 'idempotency-unavailable',
            title: 'Idempotency keys are not available here',
          });
        const outcome = await withIdempotencyKey(
          deps.db,
          { tenant: principal.tenant, key: idempotencyKey, hash: requestHash(input), id },
          async (trx) =>
            void (await executeJobCommand(
              createEventStore(trx, { schemas: eventReadSchemas }),
              id,
              command,
              metadata,
              newJob,
            )),
        );
        if (outcome.kind === 'replayed') {
          const { state } = await loadVisibleJob(deps.store, outcome.id, principal);
          if (state.status === 'initial') throw notFound();
          c.header('location', `/v1/jobs/${outcome.id}`);
          return c.json(toJobView(outcome.id, state), 200);
        }
      } else {
        // The id was generated above, so there is no stream to read: a collision would still fail the
        // append's expected version 0.
        await executeJobCommand(deps.store, id, command, metadata, newJob);
      }
      c.header('location', `/v1/jobs/${id}`);
      // The callback's signing secret leaves once, here (derived, so nothing was stored for it).
      const callback = callbackSecret === undefined ? {} : { callback: { secret: callbackSecret } };
      return c.json({ id, status: 'queued' as const, links: jobLinks(id), ...callback }, 202);
    })
    .openapi(getJob, async (c) => {
      const id = c.req.valid('param').id;
      const { state } = await loadVisibleJob(deps.store, id, c.get('principal'));
      if (state.status === 'initial') throw notFound();
      return c.json(toJobView(id, state), 200);
    })
    .openapi(jobEvents, async (c) => {
      const id = c.req.valid('param').id;
      const { after = 0, limit } = c.req.valid('query');
      const { events } = await loadVisibleJob(deps.store, id, c.get('principal'));
      const first = events.findIndex((event) => event.streamVersion > after);
      const start = first === -1 ? events.length : first;
      const page = events.slice(start, start + limit);
      const last = page.at(-1);
      // A long history is read a page at a time: `next` is the `after` of the following page.
      const next = last !== undefined && events.length > start + limit ? last.streamVersion : null;
      if (next !== null) c.header('link', `</v1/jobs/${id}/events?after=${next}&limit=${limit}>; rel="next"`);
      return c.json({ id, events: page.map(toEventView), next }, 200);
    });
}
