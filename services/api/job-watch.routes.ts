import { upgradeWebSocket } from '@hono/node-server';
import { zValidator } from '@hono/zod-validator';
import { type Context, Hono } from 'hono';
import { z } from 'zod';
import type { AppendNotifier } from '../../events/append-notifier.ts';
import type { EventStore, RecordedEvent } from '../../events/event-store.ts';
import { evolve } from '../../events/job/job.evolve.ts';
import type { JobState } from '../../events/job/job.state.ts';
import { loadJobAt } from '../../events/job/load-job-at.ts';
import { jobStreamId, toJobEvent } from '../../events/job/job-stream.ts';
import { tailStream } from '../../events/tail.ts';
import { type AuthVariables, requireScope } from './bearer-auth.middleware.ts';
import { loadVisibleJob } from './jobs.routes.ts';
import { toEventView, toJobView } from './job-view.ts';
import { ProblemError } from './problem.ts';
import { sseResponse } from './sse.ts';
import { validationHook } from './validation-hook.ts';

export interface JobWatchRoutesDeps {
  readonly store: EventStore;
  readonly notifier?: AppendNotifier;
}

type Env = { Variables: AuthVariables & { requestId: string } };

const finished: ReadonlySet<JobState['status']> = new Set(['succeeded', 'failed', 'cancelled', 'expired']);

/**
 * A job's events from `afterVersion` on, ending once the job has finished. The state is folded
 * alongside, so "finished" means what the job view says, whatever events led there.
 */
function watchJob(deps: JobWatchRoutesDeps, id: string, afterVersion: number, signal: AbortSignal): AsyncIterable<RecordedEvent> {
  let state: JobState = { status: 'initial' };
  const source = tailStream({
    store: deps.store,
    ...(deps.notifier ? { notifier: deps.notifier } : {}),
    signal,
    streamId: jobStreamId(id),
    afterVersion: 0,
    isDone: () => finished.has(state.status),
  });
  return (async function* () {
    for await (const event of source) {
      state = evolve(state, toJobEvent(event));
      if (event.streamVersion > afterVersion) yield event;
    }
  })();
}

const idParam = z.object({ id: z.string() });
const watchQuery = z.object({ afterVersion: z.coerce.number().int().min(0).default(0) });
const atParam = z.object({ id: z.string(), position: z.coerce.number().int().min(0) });

const isUpgrade = (c: Context) => c.req.header('upgrade')?.toLowerCase() === 'websocket';

/** Live views of one job: `/watch` (WebSocket, or Server-Sent Events without an upgrade) and `/at/:position`. */
export function createJobWatchRoutes(deps: JobWatchRoutesDeps) {
  return new Hono<Env>()
    .get('/:id/watch', requireScope('events:read'), zValidator('param', idParam), zValidator('query', watchQuery, validationHook), async (c, next) => {
      const id = c.req.valid('param').id;
      await loadVisibleJob(deps.store, id, c.get('principal'));
      const { afterVersion } = c.req.valid('query');
      if (!isUpgrade(c)) {
        return sseResponse(
          c,
          (signal) => watchJob(deps, id, afterVersion, signal),
          (event) => ({ event: event.type, id: String(event.streamVersion), data: toEventView(event) }),
        );
      }
      const controller = new AbortController();
      const upgrade = upgradeWebSocket(() => ({
        onOpen: async (_event, ws) => {
          try {
            for await (const event of watchJob(deps, id, afterVersion, controller.signal)) {
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
    })
    .get('/:id/at/:position', requireScope('jobs:read'), zValidator('param', atParam, validationHook), async (c) => {
      const { id, position } = c.req.valid('param');
      await loadVisibleJob(deps.store, id, c.get('principal'));
      const { state, version } = await loadJobAt(deps.store, id, position);
      if (state.status === 'initial') {
        throw new ProblemError({ status: 404, code: 'job-not-found', title: 'The job did not exist yet at that position' });
      }
      return c.json({ position, streamVersion: version, job: toJobView(id, state) });
    });
}
