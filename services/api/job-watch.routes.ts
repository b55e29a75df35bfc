import { upgradeWebSocket } from '@hono/node-server';
import { createRoute } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { z } from 'zod';
import type { AppendListener } from '../../events/append-listener.ts';
import type { EventStore } from '../../events/event-store.ts';
import { followJobHistory } from '../../jobs/job-history-feed.ts';
import { toEventView, toJobView } from '../../jobs/job-view.ts';
import { loadJobAt } from '../../jobs/load-job-at.ts';
import { jobAtSchema } from '../../schemas/api.schema.ts';
import type { AuthVariables } from './bearer-auth.middleware.ts';
import { jobIdParam, loadVisibleJob } from './jobs.routes.ts';
import { exampleJobView } from './openapi-examples.ts';
import { eventStreamContent, jsonResponse, openApiRoutes, problems, scoped } from './openapi-route.ts';
import { ProblemError } from './problem.ts';
import { resumeAfterVersion, sseResponse } from './sse.ts';

export interface JobWatchRoutesDeps {
  readonly store: EventStore;
  readonly appendListener?: AppendListener;
}

type Env = { Variables: AuthVariables & { requestId: string } };

const watchQuery = z.object({
  afterVersion: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
});
const atParam = jobIdParam.extend({
  position: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).meta({ example: 5120 }),
});

const watchJob = createRoute({
  method: 'get',
  path: '/{id}/watch',
  tags: ['jobs'],
  summary:
    "The job's events, history then live, until it finishes: a WebSocket when upgraded, else Server-Sent Events",
  ...scoped('events:read'),
  request: { params: jobIdParam, query: watchQuery },
  responses: {
    200: {
      description: 'text/event-stream (or 101 Switching Protocols)',
      content: eventStreamContent(
        'One event per job event (event: its type, id: its stream version, data: the event), then `end` once the job is finished',
      ),
    },
    ...problems(400, 401, 403, 404, 429),
  },
});

const jobAt = createRoute({
  method: 'get',
  path: '/{id}/at/{position}',
  tags: ['jobs'],
  summary: 'The job as it stood at a global log position',
  ...scoped('jobs:read'),
  request: { params: atParam },
  responses: {
    200: jsonResponse('The folded state at that position', jobAtSchema, {
      position: 5120,
      streamVersion: 4,
      job: exampleJobView,
    }),
    ...problems(400, 401, 403, 404, 429),
  },
});

const isUpgrade = (c: Context) => c.req.header('upgrade')?.toLowerCase() === 'websocket';

/** Live views of one job: `/watch` (WebSocket, or Server-Sent Events without an upgrade) and `/at/:position`. */
export function createJobWatchRoutes(deps: JobWatchRoutesDeps) {
  return openApiRoutes<Env>()
    .openapi(watchJob, async (c, next) => {
      const id = c.req.valid('param').id;
      await loadVisibleJob(deps.store, id, c.get('principal'));
      const { afterVersion: asked } = c.req.valid('query');
      if (!isUpgrade(c)) {
        // A reconnect comes back on the URL it first opened: it resumes after what it already had.
        const afterVersion = resumeAfterVersion(c, asked);
        return sseResponse(
          c,
          (signal) => followJobHistory(deps, id, afterVersion, signal).events,
          (event) => ({ event: event.type, id: String(event.streamVersion), data: toEventView(event) }),
        );
      }
      const controller = new AbortController();
      const upgrade = upgradeWebSocket(() => ({
        onOpen: async (_event, ws) => {
          try {
            for await (const event of followJobHistory(deps, id, asked, controller.signal).events) {
              ws.send(JSON.stringify({ event: event.type, ...toEventView(event) }));
            }
            ws.close(1000, 'job finished');
          } catch {
            ws.close(1011, 'watch failed');
          }
        },
        onClose: () => controller.abort(),
        onError: () => controller.abort(),
      }));
      // The upgrade answers itself; had it passed on, the answer is whatever came after it.
      return (await upgrade(c as unknown as Parameters<typeof upgrade>[0], next)) ?? c.res;
    })
    .openapi(jobAt, async (c) => {
      const { id, position } = c.req.valid('param');
      await loadVisibleJob(deps.store, id, c.get('principal'));
      const { state, version } = await loadJobAt(deps.store, id, position);
      if (state.status === 'initial') {
        throw new ProblemError({
          status: 404,
          code: 'job-not-found',
          title: 'The job did not exist yet at that position',
        });
      }
      return c.json({ position, streamVersion: version, job: toJobView(id, state) }, 200);
    });
}
