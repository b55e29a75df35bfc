import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import { z } from 'zod';
import type { AppendListener } from '../../events/append-listener.ts';
import type { EventStore, RecordedEvent } from '../../events/event-store.ts';
import { isTerminal } from '../../jobs/job.state.ts';
import { followJobHistory, type JobHistoryFeed } from '../../jobs/job-history-feed.ts';
import { jobEventSchemas } from '../../schemas/job-events.schema.ts';
import { type AuthVariables, requireScope } from './bearer-auth.middleware.ts';
import { loadVisibleJob } from './jobs.routes.ts';
import { sseResponse } from './sse.ts';
import { validationHook } from './validation-hook.ts';

export interface JobOutputRoutesDeps {
  readonly store: EventStore;
  /** Wakes followers when output is appended; without it they poll. */
  readonly appendListener?: AppendListener;
}

async function* onlyOutput(events: AsyncIterable<RecordedEvent>): AsyncGenerator<RecordedEvent> {
  for await (const event of events) if (event.type === 'JobOutput') yield event;
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

/**
 * GET /v1/jobs/:id/output: the live output recorded so far as ordered chunks; `?follow=1` streams
 * it as Server-Sent Events (history first, then new chunks as workers append them) and ends with
 * an `end` event once the job is finished. A reconnect with `Last-Event-ID` resumes after that chunk.
 */
export function createJobOutputRoutes(deps: JobOutputRoutesDeps) {
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
          // Terminal: no more output will come (a retry would move it back to queued).
          finished: isTerminal(first.state),
          chunks: chunksOf(first.events),
        });
      }
      // A reconnect resumes after the last chunk it saw (SSE sends Last-Event-ID by itself).
      const resumeAfter = Number.parseInt(c.req.header('last-event-id') ?? '0', 10);
      const afterVersion = Number.isSafeInteger(resumeAfter) && resumeAfter > 0 ? resumeAfter : 0;
      let watch: JobHistoryFeed | undefined;
      return sseResponse(
        c,
        (signal) => {
          watch = followJobHistory(deps, id, afterVersion, signal);
          return onlyOutput(watch.events);
        },
        (event) => {
          const chunk = toChunk(event);
          return { event: 'output', id: String(chunk.version), data: chunk };
        },
        () => ({ status: watch?.state().status }),
      );
    },
  );
}
