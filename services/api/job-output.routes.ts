import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import type { EventStore, RecordedEvent } from '../../events/event-store.ts';
import type { JobState } from '../../events/job/job.state.ts';
import { type LoadedJob, loadJob } from '../../events/job/job-stream.ts';
import { jobEventSchemas } from '../../schemas/job-events.schema.ts';
import { type AuthVariables, requireScope } from './bearer-auth.middleware.ts';
import { loadVisibleJob } from './jobs.routes.ts';
import { validationHook } from './validation-hook.ts';

export interface JobOutputRoutesDeps {
  readonly store: EventStore;
  /** How often a follower re-reads the job's stream; default 250 ms (the workers' batching interval). */
  readonly followPollMs?: number;
}

type Env = { Variables: AuthVariables & { requestId: string } };

const outputQuery = z.object({ follow: z.enum(['0', '1', 'true', 'false']).optional() }).strict();

/** A JobOutput event as a client sees it; `version` orders chunks across attempts and resumes a follow. */
function toChunk(event: RecordedEvent) {
  const data = jobEventSchemas.JobOutput.data.parse(event.data);
  return { version: event.streamVersion, ...data };
}

const chunksOf = (events: readonly RecordedEvent[], afterVersion = 0) =>
  events.filter((event) => event.type === 'JobOutput' && event.streamVersion > afterVersion).map(toChunk);

/** Neither waiting nor running: no more output will come (a retry would move it back to queued). */
const isFinished = (state: JobState) =>
  state.status !== 'initial' && state.status !== 'queued' && state.status !== 'running';

/**
 * GET /v1/jobs/:id/output: the live output recorded so far as ordered chunks; `?follow=1` streams
 * it as Server-Sent Events (history first, then new chunks as workers append them) and ends with
 * an `end` event once the job is finished. A reconnect with `Last-Event-ID` resumes after that chunk.
 */
export function createJobOutputRoutes(deps: JobOutputRoutesDeps) {
  const pollMs = deps.followPollMs ?? 250;
  return new Hono<Env>().get(
    '/:id/output',
    requireScope('jobs:read'),
    zValidator('param', z.object({ id: z.string() })),
    zValidator('query', outputQuery, validationHook),
    async (c) => {
      const id = c.req.valid('param').id;
      const first = await loadVisibleJob(deps.store, id, c.get('principal'));
      const follow = c.req.valid('query').follow;
      if (follow !== '1' && follow !== 'true') {
        return c.json({
          id,
          status: first.state.status,
          finished: isFinished(first.state),
          chunks: chunksOf(first.events),
        });
      }
      const resumeAfter = Number.parseInt(c.req.header('last-event-id') ?? '0', 10);
      return streamSSE(c, async (stream) => {
        let after = Number.isSafeInteger(resumeAfter) && resumeAfter > 0 ? resumeAfter : 0;
        let job: LoadedJob = first;
        // Visibility was checked once; the stream id cannot change owner afterwards.
        while (!stream.aborted) {
          for (const chunk of chunksOf(job.events, after)) {
            await stream.writeSSE({
              id: String(chunk.version),
              event: 'output',
              data: JSON.stringify(chunk),
            });
          }
          after = Math.max(after, job.version);
          if (isFinished(job.state)) {
            await stream.writeSSE({ event: 'end', data: JSON.stringify({ status: job.state.status }) });
            return;
          }
          await stream.sleep(pollMs);
          job = await loadJob(deps.store, id);
        }
      });
    },
  );
}
