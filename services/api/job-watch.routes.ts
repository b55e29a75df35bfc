import { upgradeWebSocket } from '@hono/node-server';
import { zValidator } from '@hono/zod-validator';
import { type Context, Hono } from 'hono';
import { z } from 'zod';
import type { AppendListener } from '../../events/append-listener.ts';
import type { EventStore } from '../../events/event-store.ts';
import { followJobHistory } from '../../jobs/job-history-feed.ts';
import { toEventView, toJobView } from '../../jobs/job-view.ts';
import { loadJobAt } from '../../jobs/load-job-at.ts';
import { type AuthVariables, requireScope } from './bearer-auth.middleware.ts';
import { loadVisibleJob } from './jobs.routes.ts';
import { ProblemError } from './problem.ts';
import { sseResponse } from './sse.ts';
import { validationHook } from './validation-hook.ts';

export interface JobWatchRoutesDeps {
  readonly store: EventStore;
  readonly appendListener?: AppendListener;
}

type Env = { Variables: AuthVariables & { requestId: string } };

const idParam = z.object({ id: z.string() });
const watchQuery = z.object({ afterVersion: z.coerce.number().int().min(0).default(0) });
const atParam = z.object({ id: z.string(), position: z.coerce.number().int().min(0) });

const isUpgrade = (c: Context) => c.req.header('upgrade')?.toLowerCase() === 'websocket';

/** Live views of one job: `/watch` (WebSocket, or Server-Sent Events without an upgrade) and `/at/:position`. */
export function createJobWatchRoutes(deps: JobWatchRoutesDeps) {
  return new Hono<Env>()
    .get(
      '/:id/watch',
      requireScope('events:read'),
      zValidator('param', idParam),
      zValidator('query', watchQuery, validationHook),
      async (c, next) => {
        const id = c.req.valid('param').id;
        await loadVisibleJob(deps.store, id, c.get('principal'));
        const { afterVersion } = c.req.valid('query');
        if (!isUpgrade(c)) {
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
              for await (const event of followJobHistory(deps, id, afterVersion, controller.signal).events) {
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
        return upgrade(c as unknown as Parameters<typeof upgrade>[0], next);
      },
    )
    .get(
      '/:id/at/:position',
      requireScope('jobs:read'),
      zValidator('param', atParam, validationHook),
      async (c) => {
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
        return c.json({ position, streamVersion: version, job: toJobView(id, state) });
      },
    );
}
