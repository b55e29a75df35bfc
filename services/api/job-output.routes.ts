import { createRoute } from '@hono/zod-openapi';
import { z } from 'zod';
import type { AppendListener } from '../../events/append-listener.ts';
import type { EventStore, RecordedEvent } from '../../events/event-store.ts';
import { isTerminal } from '../../jobs/job.state.ts';
import { followJobHistory, type JobHistoryFeed } from '../../jobs/job-history-feed.ts';
import { jobOutputSchema } from '../../schemas/api.schema.ts';
import { jobEventSchemas } from '../../schemas/job-events.schema.ts';
import type { AuthVariables } from './bearer-auth.middleware.ts';
import { jobIdParam, loadVisibleJob } from './jobs.routes.ts';
import { exampleJobId } from './openapi-examples.ts';
import { eventStreamContent, openApiRoutes, problems, scoped } from './openapi-route.ts';
import { resumeAfterVersion, sseResponse } from './sse.ts';

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

const jobOutput = createRoute({
  method: 'get',
  path: '/{id}/output',
  tags: ['jobs'],
  summary: 'Output recorded so far as ordered chunks; ?follow=1 streams it as Server-Sent Events',
  ...scoped('jobs:read'),
  request: { params: jobIdParam, query: outputQuery },
  responses: {
    200: {
      description: 'Output chunks (JSON), or text/event-stream with follow=1',
      content: {
        'application/json': {
          schema: jobOutputSchema,
          example: {
            id: exampleJobId,
            status: 'running' as const,
            finished: false,
            chunks: [{ version: 3, attempt: 1, seq: 1, stream: 'stdout' as const, text: 'hello\n' }],
          },
        },
        ...eventStreamContent(
          "`output` events (id: the chunk's version; data: a chunk), then one `end` event with the job's status; resumes after Last-Event-ID",
        ),
      },
    },
    ...problems(400, 401, 403, 404, 429),
  },
});

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
  return openApiRoutes<Env>().openapi(jobOutput, async (c) => {
    const id = c.req.valid('param').id;
    const first = await loadVisibleJob(deps.store, id, c.get('principal'));
    const follow = c.req.valid('query').follow;
    if (follow !== '1' && follow !== 'true') {
      return c.json(
        {
          id,
          status: first.state.status,
          // Terminal: no more output will come (a retry would move it back to queued).
          finished: isTerminal(first.state),
          chunks: chunksOf(first.events),
        },
        200,
      );
    }
    // A reconnect resumes after the last chunk it saw (SSE sends Last-Event-ID by itself).
    const afterVersion = resumeAfterVersion(c);
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
  });
}
