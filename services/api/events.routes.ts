import { createRoute } from '@hono/zod-openapi';
import { z } from 'zod';
import type { AppendListener } from '../../events/append-listener.ts';
import { type EventStore, type LogPosition, logStart, type RecordedEvent } from '../../events/event-store.ts';
import { tailLog } from '../../events/tail.ts';
import { toEventView } from '../../jobs/job-view.ts';
import { eventPageSchema } from '../../schemas/api.schema.ts';
import { queryInstantSchema } from '../../schemas/input-bounds.ts';
import type { AuthVariables } from './bearer-auth.middleware.ts';
import { parseCursor, toCursor } from './log-cursor.ts';
import { exampleJobEvent } from './openapi-examples.ts';
import { eventStreamContent, jsonResponse, openApiRoutes, problems, scoped } from './openapi-route.ts';
import { sseResponse } from './sse.ts';

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

const eventsPage = createRoute({
  method: 'get',
  path: '/',
  tags: ['events'],
  summary: 'Page through the global log in commit order (admin)',
  ...scoped('admin'),
  request: { query: eventsPageQuerySchema },
  responses: {
    200: jsonResponse('A page of events and the cursor after it', eventPageSchema, {
      events: [{ ...exampleJobEvent, cursor: '48213-1' }],
      next: '48213-1',
    }),
    ...problems(400, 401, 403, 429),
  },
});

const eventsWatch = createRoute({
  method: 'get',
  path: '/watch',
  tags: ['events'],
  summary: 'The global log, history then live, as Server-Sent Events (admin)',
  ...scoped('admin'),
  request: { query: eventsWatchQuerySchema },
  responses: {
    200: {
      description: 'text/event-stream, one event per log entry',
      content: eventStreamContent(
        'One event per log entry (event: its type, id: its cursor, data: the event with its cursor); resumes after Last-Event-ID or ?after',
      ),
    },
    ...problems(400, 401, 403, 429),
  },
});

const eventWithCursor = (event: RecordedEvent) => ({ ...toEventView(event), cursor: toCursor(event) });

/** /v1/events: the global log for operators (admin only: it spans every tenant). */
export function createEventsRoutes(deps: EventsRoutesDeps) {
  return openApiRoutes<Env>()
    .openapi(eventsPage, async (c) => {
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
      return c.json(
        {
          events: inRange.map(eventWithCursor),
          next: last ? toCursor(last) : (query.after ?? null),
        },
        200,
      );
    })
    .openapi(eventsWatch, (c) => {
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
    });
}
