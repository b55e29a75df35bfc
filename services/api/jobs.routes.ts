import { randomUUID } from 'node:crypto';
import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import { z } from 'zod';
import type { EventStore } from '../../events/event-store.ts';
import { executeJobCommand, loadJob } from '../../events/job/job-stream.ts';
import { resolveJobSpec } from '../../events/job/resolve-job-spec.ts';
import type { SandboxPolicy } from '../../schemas/config.schema.ts';
import { jobSpecSchema } from '../../schemas/job-spec.schema.ts';
import type { AuthVariables } from './bearer-auth.middleware.ts';
import { jobLinks, toEventView, toJobView } from './job-view.ts';
import { fieldErrors, ProblemError } from './problem.ts';

export interface JobsRoutesDeps {
  readonly store: EventStore;
  readonly policy: SandboxPolicy;
}

type Env = { Variables: AuthVariables & { requestId: string } };

/** zod failures become one 400 problem listing every field, so a client can fix all at once. */
const validationHook = (result: { success: boolean; error?: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string; keys?: readonly string[] }> } }) => {
  if (!result.success && result.error) {
    throw new ProblemError({
      status: 400,
      code: 'validation-failed',
      title: 'The request is invalid',
      detail: 'one or more fields are invalid',
      errors: fieldErrors(result.error.issues),
    });
  }
};

const notFound = () => new ProblemError({ status: 404, code: 'job-not-found', title: 'No such job' });

// A malformed id cannot name a job: answer as for any unknown job.
const jobIdParam = z.object({ id: z.string() });
const parseJobId = (id: string) => {
  if (!z.uuid().safeParse(id).success) throw notFound();
  return id;
};

/** /v1/jobs: submit a job, read its folded state, read its history. */
export function createJobsRoutes(deps: JobsRoutesDeps) {
  const submitBody = jobSpecSchema.superRefine((spec, ctx) => {
    if (!deps.policy.allowedImages.includes(spec.image)) {
      ctx.addIssue({ code: 'custom', path: ['image'], message: `image is not on the allowlist (${deps.policy.allowedImages.join(', ')})` });
    }
  });

  return new Hono<Env>()
    .post('/', zValidator('json', submitBody, validationHook), async (c) => {
      const id = randomUUID();
      const principal = c.get('principal');
      await executeJobCommand(
        deps.store,
        id,
        { type: 'SubmitJob', spec: resolveJobSpec(c.req.valid('json'), deps.policy) },
        {
          actor: principal.subject,
          ...(principal.tokenId === undefined ? {} : { tokenId: principal.tokenId }),
          requestId: c.get('requestId'),
          correlationId: id,
        },
      );
      c.header('location', `/v1/jobs/${id}`);
      return c.json({ id, status: 'queued' as const, links: jobLinks(id) }, 202);
    })
    .get('/:id', zValidator('param', jobIdParam), async (c) => {
      const id = parseJobId(c.req.valid('param').id);
      const { state } = await loadJob(deps.store, id);
      if (state.status === 'initial') throw notFound();
      return c.json(toJobView(id, state));
    })
    .get('/:id/events', zValidator('param', jobIdParam), async (c) => {
      const id = parseJobId(c.req.valid('param').id);
      const { events } = await loadJob(deps.store, id);
      if (events.length === 0) throw notFound();
      return c.json({ id, events: events.map(toEventView) });
    });
}
