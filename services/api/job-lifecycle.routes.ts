import { createRoute } from '@hono/zod-openapi';
import { z } from 'zod';
import type { EventStore } from '../../events/event-store.ts';
import { ConcurrencyError } from '../../events/event-store-errors.ts';
import type { JobCommand } from '../../jobs/job.decider.ts';
import { executeJobCommand } from '../../jobs/job-stream.ts';
import { toJobView } from '../../jobs/job-view.ts';
import { jobViewSchema } from '../../schemas/api.schema.ts';
import { jobNoteSchema } from '../../schemas/job-spec.schema.ts';
import { auditMetadata } from './audit-metadata.ts';
import type { AuthVariables } from './bearer-auth.middleware.ts';
import { jobIdParam, loadVisibleJob } from './jobs.routes.ts';
import { exampleJobView } from './openapi-examples.ts';
import { jsonResponse, openApiRoutes, problems, scoped } from './openapi-route.ts';
import { ProblemError } from './problem.ts';
import type { Principal } from './token-verifier.ts';
import { validationHook } from './validation-hook.ts';

export interface JobLifecycleRoutesDeps {
  readonly store: EventStore;
}

type Env = { Variables: AuthVariables & { requestId: string } };

const noteBody = jobNoteSchema;

/** An empty body is allowed; anything else must be the JSON object above. */
async function readNote(request: Request): Promise<z.infer<typeof noteBody>> {
  const text = await request.text();
  if (text.trim() === '') return {};
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ProblemError({ status: 400, code: 'malformed-request', title: 'The body is not valid JSON' });
  }
  const parsed = noteBody.safeParse(json);
  validationHook(parsed);
  return parsed.data ?? {};
}

/**
 * Decides against the job's current version, retrying on a concurrent append (a worker's start or
 * live output racing the request); the decider alone says whether the command is allowed.
 */
async function decideOnVisibleJob(
  store: EventStore,
  id: string,
  principal: Principal,
  command: (state: Awaited<ReturnType<typeof loadVisibleJob>>) => JobCommand,
  metadata: Parameters<typeof executeJobCommand>[3],
) {
  for (let attempt = 1; ; attempt += 1) {
    const loaded = await loadVisibleJob(store, id, principal);
    try {
      await executeJobCommand(store, id, command(loaded), metadata, loaded);
      break;
    } catch (error) {
      if (!(error instanceof ConcurrencyError) || attempt >= 10) throw error;
    }
  }
  const { state } = await loadVisibleJob(store, id, principal);
  if (state.status === 'initial') throw new Error('a visible job has a state');
  return toJobView(id, state);
}

// The note is optional (an empty body is one), so readNote checks it rather than the route's
// validator, which would take an empty body for malformed JSON; the document still shows its shape.
const { $schema: _dialect, ...noteJsonSchema } = z.toJSONSchema(noteBody, { io: 'input' });
const noteRequestBody = (example: z.input<typeof noteBody>) => ({
  required: false,
  content: {
    'application/json': { schema: noteJsonSchema as object, example },
  },
});

const cancelJob = createRoute({
  method: 'post',
  path: '/{id}/cancel',
  tags: ['jobs'],
  summary: 'Cancel a queued, delayed or running job (its container is killed); idempotent',
  ...scoped('jobs:cancel'),
  request: { params: jobIdParam, body: noteRequestBody({ reason: 'submitted by mistake' }) },
  responses: {
    200: jsonResponse('The job, cancelled', jobViewSchema, {
      ...exampleJobView,
      status: 'cancelled',
      exitCode: null,
      stdout: null,
      stderr: null,
    }),
    ...problems(400, 401, 403, 404, 409, 429),
  },
});

const retryJob = createRoute({
  method: 'post',
  path: '/{id}/retry',
  tags: ['jobs'],
  summary: 'Run a finished job again: a new attempt in the same history, with who asked and why',
  ...scoped('jobs:submit'),
  request: { params: jobIdParam, body: noteRequestBody({ reason: 'the upstream outage is over' }) },
  responses: {
    202: jsonResponse('The job, queued again', jobViewSchema, {
      ...exampleJobView,
      status: 'queued',
      attempt: 2,
      startedAt: null,
      finishedAt: null,
      durationMs: null,
      exitCode: null,
      stdout: null,
      stderr: null,
    }),
    ...problems(400, 401, 403, 404, 409, 429),
  },
});

/** POST /v1/jobs/:id/cancel and /v1/jobs/:id/retry: the operator's levers on one job. */
export function createJobLifecycleRoutes(deps: JobLifecycleRoutesDeps) {
  return openApiRoutes<Env>()
    .openapi(cancelJob, async (c) => {
      const principal = c.get('principal');
      const id = c.req.valid('param').id;
      const { reason } = await readNote(c.req.raw);
      // Idempotent: cancelling a cancelled job decides no event and answers the same state.
      const view = await decideOnVisibleJob(
        deps.store,
        id,
        principal,
        () => ({ type: 'CancelJob', ...(reason === undefined ? {} : { reason }) }),
        auditMetadata(c, principal, { correlationId: id }),
      );
      return c.json(view, 200);
    })
    .openapi(retryJob, async (c) => {
      const principal = c.get('principal');
      const id = c.req.valid('param').id;
      const { reason } = await readNote(c.req.raw);
      const view = await decideOnVisibleJob(
        deps.store,
        id,
        principal,
        () => ({
          type: 'RetryJob',
          requestedBy: principal.subject,
          now: new Date(),
          ...(reason === undefined ? {} : { comment: reason }),
        }),
        auditMetadata(c, principal, { correlationId: id }),
      );
      return c.json(view, 202);
    });
}
