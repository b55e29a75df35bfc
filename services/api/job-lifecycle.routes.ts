import { Hono } from 'hono';
import type { z } from 'zod';
import type { EventStore } from '../../events/event-store.ts';
import { ConcurrencyError } from '../../events/event-store-errors.ts';
import type { JobCommand } from '../../jobs/job.decider.ts';
import { executeJobCommand } from '../../jobs/job-stream.ts';
import { toJobView } from '../../jobs/job-view.ts';
import { jobNoteSchema } from '../../schemas/job-spec.schema.ts';
import { auditMetadata } from './audit-metadata.ts';
import { type AuthVariables, requireScope } from './bearer-auth.middleware.ts';
import { loadVisibleJob } from './jobs.routes.ts';
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

/** POST /v1/jobs/:id/cancel and /v1/jobs/:id/retry: the operator's levers on one job. */
export function createJobLifecycleRoutes(deps: JobLifecycleRoutesDeps) {
  return new Hono<Env>()
    .post('/:id/cancel', requireScope('jobs:cancel'), async (c) => {
      const principal = c.get('principal');
      const id = c.req.param('id');
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
    .post('/:id/retry', requireScope('jobs:submit'), async (c) => {
      const principal = c.get('principal');
      const id = c.req.param('id');
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
