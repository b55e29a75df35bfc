import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import { z } from 'zod';
import type { AppendListener } from '../../events/append-listener.ts';
import { type EventStore, type LogPosition, logStart, type RecordedEvent } from '../../events/event-store.ts';
import { tailLog } from '../../events/tail.ts';
import { toEventView } from '../../jobs/job-view.ts';
import { queryInstantSchema } from '../../schemas/input-bounds.ts';
import { type AuthVariables, requireScope } from './bearer-auth.middleware.ts';
import { parseCursor, toCursor } from './log-cursor.ts';
import { sseResponse } from './sse.ts';
import { validationHook } from './validation-hook.ts';

export interface EventsRoutesDeps {
  readonly store: EventStore;
  readonly appendListener?: AppendListener;
}

type Env = { Variables: AuthVariables & { requestId: string } };

const cursor = z
  .string()
  .refine((value) => parseCursor(value) !== undefined, 'must be a cursor from an earlier page');
const typeList = z
  .string()
  .regex(/^[A-Za-z0-9,]{1,512}$/, 'comma-separated event types')
  .transform((value) => value.split(',').filter(Boolean));

export const eventsPageQuerySchema = z
  .object({
    after: cursor.optional(),
    type: typeList.optional(),
    stream: z.string().min(1).max(200).optional(),
    from: queryInstantSchema.optional(),
    to: queryInstantSchema.optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();

export const eventsWatchQuerySchema = z
  .object({
    after: cursor.optional(),
    type: typeList.optional(),
    stream: z.string().min(1).max(200).optional(),
  })
  .strict();

const eventWithCursor = (event: RecordedEvent) => ({ ...toEventView(event), cursor: toCursor(event) });

/** /v1/events: the global log for operators (admin only: it spans every tenant). */
export function createEventsRoutes(deps: EventsRoutesDeps) {
  return new Hono<Env>()
    .get(
      '/',
      requireScope('admin'),
      zValidator('query', eventsPageQuerySchema, validationHook),
      async (c) => {
        const query = c.req.valid('query');
        const after: LogPosition = query.after ? (parseCursor(query.after) ?? logStart) : logStart;
        const events = await deps.store.readAll(after, {
          limit: query.limit,
          ...(query.type ? { types: query.type } : {}),
          ...(query.stream ? { streamPrefix: query.stream } : {}),
        });
        const from = query.from ? Date.parse(query.from) : Number.NEGATIVE_INFINITY;
        const to = query.to ? Date.parse(query.to) : Number.POSITIVE_INFINITY;
        const inRange = events.filter(
          (event) => event.recordedAt.getTime() >= from && event.recordedAt.getTime() <= to,
        );
        const last = events.at(-1);
        // `next` moves past everything scanned, including events the time range left out.
        return c.json({
          events: inRange.map(eventWithCursor),
          next: last ? toCursor(last) : (query.after ?? null),
        });
      },
    )
    .get(
      '/watch',
      requireScope('admin'),
      zValidator('query', eventsWatchQuerySchema, validationHook),
      (c) => {
        const query = c.req.valid('query');
        const after = query.after ? (parseCursor(query.after) ?? logStart) : logStart;
        return sseResponse(
          c,
          (signal) =>
            tailLog({
              store: deps.store,
              ...(deps.appendListener ? { appendListener: deps.appendListener } : {}),
              signal,
              after,
              filter: {
                ...(query.type ? { types: query.type } : {}),
                ...(query.stream ? { streamPrefix: query.stream } : {}),
              },
            }),
          (event) => ({ event: event.type, id: toCursor(event), data: eventWithCursor(event) }),
        );
      },
    );
}
