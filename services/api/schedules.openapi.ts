import { createRoute } from '@hono/zod-openapi';
import { z } from 'zod';
import type { changeScheduleSchema, createScheduleSchema } from '../../schemas/schedule-spec.schema.ts';
import { scheduleListQuerySchema } from '../../schemas/schedule-spec.schema.ts';
import { scheduleListSchema, scheduleViewSchema } from '../../schemas/schedule-view.schema.ts';
import { jsonBody, jsonResponse, problems, scoped } from './openapi-route.ts';

// The /v1/schedules routes' definitions (what each takes and answers), kept apart from their
// handlers in schedules.routes.ts, which registers them. Writes need jobs:submit (each slot submits
// a job), reads jobs:read.

const exampleScheduleId = '2c5e9a10-7b3d-4f6e-9a1c-5d7e8f9a0b1c';
const exampleSchedule = {
  id: exampleScheduleId,
  name: 'nightly report',
  status: 'active' as const,
  cron: '30 2 * * *',
  timeZone: 'Europe/Berlin',
  intervalMs: null,
  catchUp: 'run-once' as const,
  maxCatchUp: 10,
  overlap: 'skip-if-running' as const,
  startAt: '2026-12-03T09:00:00.000Z',
  job: { image: 'omni-busybox:latest', command: ['sh', '-c', 'echo report'], labels: {} },
  nextSlotAt: '2026-12-04T01:30:00.000Z',
  lastFired: { slot: '2026-12-03T01:30:00.000Z', jobId: '6f1c2d3e-4a5b-5c6d-8e7f-9a0b1c2d3e4f' },
  firedCount: 1,
  skippedCount: 0,
  recent: [
    {
      slot: '2026-12-03T01:30:00.000Z',
      outcome: 'fired' as const,
      jobId: '6f1c2d3e-4a5b-5c6d-8e7f-9a0b1c2d3e4f',
      late: false,
    },
  ],
  createdBy: 'dev-user',
  createdAt: '2026-12-02T18:00:00.000Z',
  updatedAt: '2026-12-02T18:00:00.000Z',
  links: { self: `/v1/schedules/${exampleScheduleId}` },
};

const scheduleIdParam = z.object({ id: z.string().meta({ example: exampleScheduleId }) });

/** POST /v1/schedules, validating with `body` (the create schema held to the image allowlist). */
export const createScheduleRoute = (body: typeof createScheduleSchema) =>
  createRoute({
    method: 'post',
    path: '/',
    tags: ['schedules'],
    summary:
      'Create a schedule: a job spec and a cron expression (with time zone) or an interval, with catch-up and overlap policies',
    description:
      'An `Idempotency-Key` header makes a retry safe: the same key and body answer 200 with the schedule it made; the same key with another body is a 409.',
    ...scoped('jobs:submit'),
    request: {
      headers: z.object({ 'idempotency-key': z.string().optional() }),
      body: jsonBody(body, {
        name: 'nightly report',
        job: { image: 'omni-busybox:latest', command: ['sh', '-c', 'echo report'] },
        cron: '30 2 * * *',
        timeZone: 'Europe/Berlin',
        catchUp: 'run-once',
        overlap: 'skip-if-running',
      }),
    },
    responses: {
      201: jsonResponse('Created; Location names it', scheduleViewSchema, exampleSchedule),
      200: jsonResponse(
        'Replayed: the Idempotency-Key named this schedule already',
        scheduleViewSchema,
        exampleSchedule,
      ),
      ...problems(400, 401, 403, 409, 413, 415, 429, 503),
    },
  });

export const listSchedulesRoute = createRoute({
  method: 'get',
  path: '/',
  tags: ['schedules'],
  summary: "The tenant's schedules (admins: every tenant's), newest first, from the schedules read model",
  ...scoped('jobs:read'),
  request: { query: scheduleListQuerySchema },
  responses: {
    200: jsonResponse('A page of schedules and the `after` of the next', scheduleListSchema, {
      schedules: [exampleSchedule],
      next: null,
    }),
    ...problems(400, 401, 403, 429, 503),
  },
});

export const getScheduleRoute = createRoute({
  method: 'get',
  path: '/{id}',
  tags: ['schedules'],
  summary:
    'A schedule: its definition, its next slot and its latest slots (fired or skipped, with the job ids)',
  ...scoped('jobs:read'),
  request: { params: scheduleIdParam },
  responses: {
    200: jsonResponse('The schedule', scheduleViewSchema, exampleSchedule),
    ...problems(401, 403, 404, 429, 503),
  },
});

/** PATCH /v1/schedules/{id}, validating with `body` (the change schema held to the image allowlist). */
export const changeScheduleRoute = (body: typeof changeScheduleSchema) =>
  createRoute({
    method: 'patch',
    path: '/{id}',
    tags: ['schedules'],
    summary:
      'Pause (paused: true), resume (paused: false) or change a schedule; a new timing applies from now on',
    ...scoped('jobs:submit'),
    request: { params: scheduleIdParam, body: jsonBody(body, { paused: true }) },
    responses: {
      200: jsonResponse('The schedule after the change', scheduleViewSchema, {
        ...exampleSchedule,
        status: 'paused',
      }),
      ...problems(400, 401, 403, 404, 409, 415, 429, 503),
    },
  });

export const deleteScheduleRoute = createRoute({
  method: 'delete',
  path: '/{id}',
  tags: ['schedules'],
  summary: 'Delete a schedule: it fires no more slots; the jobs it submitted stay',
  ...scoped('jobs:submit'),
  request: { params: scheduleIdParam },
  responses: { 204: { description: 'Deleted' }, ...problems(401, 403, 404, 409, 429, 503) },
});
