import {
  changeScheduleSchema,
  createScheduleSchema,
  scheduleListQuerySchema,
} from '../../schemas/schedule-spec.schema.ts';
import { scheduleListSchema, scheduleViewSchema } from '../../schemas/schedule-view.schema.ts';
import type { DocumentedOperation } from './openapi.ts';

const exampleScheduleId = '2c5e9a10-7b3d-4f6e-9a1c-5d7e8f9a0b1c';
const exampleSchedule = {
  id: exampleScheduleId,
  name: 'nightly report',
  status: 'active',
  cron: '30 2 * * *',
  timeZone: 'Europe/Berlin',
  intervalMs: null,
  catchUp: 'run-once',
  maxCatchUp: 10,
  overlap: 'skip-if-running',
  startAt: '2026-12-03T09:00:00.000Z',
  job: { image: 'omni-busybox:latest', command: ['sh', '-c', 'echo report'], labels: {} },
  nextSlotAt: '2026-12-04T01:30:00.000Z',
  lastFired: { slot: '2026-12-03T01:30:00.000Z', jobId: '6f1c2d3e-4a5b-5c6d-8e7f-9a0b1c2d3e4f' },
  firedCount: 1,
  skippedCount: 0,
  recent: [
    {
      slot: '2026-12-03T01:30:00.000Z',
      outcome: 'fired',
      jobId: '6f1c2d3e-4a5b-5c6d-8e7f-9a0b1c2d3e4f',
      late: false,
    },
  ],
  createdBy: 'dev-user',
  createdAt: '2026-12-02T18:00:00.000Z',
  updatedAt: '2026-12-02T18:00:00.000Z',
  links: { self: `/v1/schedules/${exampleScheduleId}` },
};

/** /v1/schedules: recurring jobs; writes need jobs:submit (each slot submits a job), reads jobs:read. */
export const scheduleOperations: readonly DocumentedOperation[] = [
  {
    method: 'post',
    path: '/v1/schedules',
    summary:
      'Create a schedule: a job spec and a cron expression (with time zone) or an interval, with catch-up and overlap policies',
    scope: 'jobs:submit',
    body: {
      schema: createScheduleSchema,
      example: {
        name: 'nightly report',
        job: { image: 'omni-busybox:latest', command: ['sh', '-c', 'echo report'] },
        cron: '30 2 * * *',
        timeZone: 'Europe/Berlin',
        catchUp: 'run-once',
        overlap: 'skip-if-running',
      },
    },
    success: {
      status: 201,
      description: 'Created; Location names it',
      schema: scheduleViewSchema,
      example: exampleSchedule,
    },
    errors: [400, 401, 403, 409, 413, 429, 503],
  },
  {
    method: 'get',
    path: '/v1/schedules',
    summary: "The tenant's schedules (admins: every tenant's), newest first, from the schedules read model",
    scope: 'jobs:read',
    query: scheduleListQuerySchema,
    success: {
      status: 200,
      description: 'A page of schedules and the `after` of the next',
      schema: scheduleListSchema,
      example: { schedules: [exampleSchedule], next: null },
    },
    errors: [400, 401, 403, 429, 503],
  },
  {
    method: 'get',
    path: '/v1/schedules/{id}',
    summary:
      'A schedule: its definition, its next slot and its latest slots (fired or skipped, with the job ids)',
    scope: 'jobs:read',
    success: {
      status: 200,
      description: 'The schedule',
      schema: scheduleViewSchema,
      example: exampleSchedule,
    },
    errors: [401, 403, 404, 429, 503],
  },
  {
    method: 'patch',
    path: '/v1/schedules/{id}',
    summary:
      'Pause (paused: true), resume (paused: false) or change a schedule; a new timing applies from now on',
    scope: 'jobs:submit',
    body: { schema: changeScheduleSchema, example: { paused: true } },
    success: { status: 200, description: 'The schedule after the change', schema: scheduleViewSchema },
    errors: [400, 401, 403, 404, 409, 429, 503],
  },
  {
    method: 'delete',
    path: '/v1/schedules/{id}',
    summary: 'Delete a schedule: it fires no more slots; the jobs it submitted stay',
    scope: 'jobs:submit',
    success: { status: 204, description: 'Deleted' },
    errors: [401, 403, 404, 409, 429, 503],
  },
];
