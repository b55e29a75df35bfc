import { z } from 'zod';
import {
  chainVerificationSchema,
  eventPageSchema,
  fileListSchema,
  fileViewSchema,
  healthSchema,
  jobAcceptedSchema,
  jobAtSchema,
  jobEventsSchema,
  jobListSchema,
  jobOutputSchema,
  jobViewSchema,
  problemSchema,
  putSecretBodySchema,
  readinessSchema,
  secretListSchema,
} from '../../schemas/api.schema.ts';
import { jobNoteSchema, jobSpecSchema } from '../../schemas/job-spec.schema.ts';
import { verifyRunSchema, verifyStartQuerySchema } from '../../schemas/verify-run.schema.ts';
import {
  createdWebhookSchema,
  createWebhookBodySchema,
  webhookViewSchema,
} from '../../schemas/webhook-api.schema.ts';
import { eventsPageQuerySchema, eventsWatchQuerySchema } from './events.routes.ts';
import { listFilesQuerySchema, uploadQuerySchema } from './files.routes.ts';
import { jobBatchBodySchema, jobBatchResultSchema, maxBatchJobs } from './job-batch.routes.ts';
import { bulkActionBodySchema, bulkActionResultSchema } from './job-bulk.routes.ts';
import { jobCountsQuerySchema, jobCountsSchema } from './job-counts.routes.ts';
import { jobVerificationSchema } from './job-verify.routes.ts';
import { jobEventsQuerySchema } from './jobs.routes.ts';
import { jobsListQuerySchema } from './jobs-list.routes.ts';
import { meSchema } from './me.routes.ts';
import { queueHealthSchema } from './queue-health.routes.ts';
import { scheduleOperations } from './schedules.openapi.ts';

/** One documented operation; the document and its test are generated from this table. */
export interface DocumentedOperation {
  readonly method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** OpenAPI style: `/v1/jobs/{id}`. */
  readonly path: string;
  readonly summary: string;
  /** Scope required; absent: public. */
  readonly scope?: string;
  readonly body?: { readonly schema: z.ZodType; readonly example: unknown };
  /** A body of raw bytes (an upload) rather than JSON. */
  readonly rawBody?: { readonly description: string };
  /** Query parameters, from the schema the route validates them with. */
  readonly query?: z.ZodObject;
  readonly success: {
    readonly status: number;
    readonly description: string;
    readonly schema?: z.ZodType;
    readonly example?: unknown;
    readonly contentType?: string;
  };
  readonly errors: readonly number[];
}

const exampleVerifyRun = {
  id: 'd12b27fe-62c5-4423-9836-b123cd5a9843',
  status: 'running',
  sinceCheckpoint: false,
  eventsChecked: 45000,
  startedAt: '2026-12-02T07:20:11.386Z',
  finishedAt: null,
  result: null,
};
const exampleJobId = '8f0c6a52-3f0e-4c3e-9d6b-6d0f1c0b9a11';
const exampleFileId = '3d1b2c4e-5f60-4a7b-8c9d-0e1f2a3b4c5d';
const exampleFile = {
  id: exampleFileId,
  name: 'sales.csv',
  contentType: 'text/csv',
  size: 40,
  sha256: 'ba03ecad1e4ac5f9d2cd2b2bfccfdc8b4855127ac040dab21e7ab4bb58f0a2b4',
  kind: 'upload',
  jobId: null,
  attempt: null,
  createdBy: 'dev-user',
  createdAt: '2026-11-30T05:12:09.968Z',
  links: { content: `/v1/files/${exampleFileId}`, meta: `/v1/files/${exampleFileId}/meta` },
};
const exampleWebhook = {
  id: '5b7e1f7a-2c3d-4e5f-8a9b-0c1d2e3f4a5b',
  url: 'https://hooks.example.com/omni',
  events: ['JobSucceeded', 'JobFailed'],
  createdAt: '2026-12-03T09:40:00.000Z',
};
const exampleLinks = { self: `/v1/jobs/${exampleJobId}`, events: `/v1/jobs/${exampleJobId}/events` };

/** Every route the API serves, documented from the same zod schemas the routes validate with. */
export const documentedOperations: readonly DocumentedOperation[] = [
  {
    method: 'post',
    path: '/v1/jobs',
    summary: 'Submit a job',
    scope: 'jobs:submit',
    body: {
      schema: jobSpecSchema,
      example: {
        image: 'omni-busybox:latest',
        command: ['echo', 'hello'],
        timeoutMs: 5000,
        limits: { memoryBytes: 67108864 },
      },
    },
    success: {
      status: 202,
      description: 'Accepted: the job is queued',
      schema: jobAcceptedSchema,
      example: { id: exampleJobId, status: 'queued', links: exampleLinks },
    },
    errors: [400, 401, 403, 413, 429],
  },
  {
    method: 'get',
    path: '/v1/jobs/{id}',
    summary: "A job's current state, folded from its events",
    scope: 'jobs:read',
    success: {
      status: 200,
      description: 'The job',
      schema: jobViewSchema,
      example: {
        id: exampleJobId,
        status: 'succeeded',
        attempt: 1,
        image: 'omni-busybox:latest',
        command: ['echo', 'hello'],
        submittedBy: 'dev-user',
        submittedAt: '2026-11-30T01:55:42.018Z',
        startedAt: '2026-11-30T01:55:42.111Z',
        finishedAt: '2026-11-30T01:55:42.615Z',
        durationMs: 343,
        exitCode: 0,
        failureReason: null,
        failureMessage: null,
        stdout: 'hello\n',
        stderr: '',
        outputTruncated: false,
        labels: { team: 'data' },
        links: exampleLinks,
      },
    },
    errors: [401, 403, 404, 429],
  },
  {
    method: 'get',
    path: '/v1/jobs/{id}/events',
    summary: "A job's history: its events in order, a page (at most 1000) at a time",
    scope: 'events:read',
    query: jobEventsQuerySchema,
    success: {
      status: 200,
      description: 'A page of events and the `after` of the next page',
      schema: jobEventsSchema,
      example: {
        id: exampleJobId,
        events: [
          {
            position: 1,
            streamId: `job-${exampleJobId}`,
            streamVersion: 1,
            eventId: '0b7e0d2c-2b53-4a8e-9d0e-0f3c9b1f7a21',
            type: 'JobSubmitted',
            schemaVersion: 1,
            data: { spec: { image: 'omni-busybox:latest', command: ['echo', 'hello'] } },
            metadata: { actor: 'dev-user', tenant: 'default' },
            recordedAt: '2026-11-30T01:55:42.018Z',
          },
        ],
        next: null,
      },
    },
    errors: [400, 401, 403, 404, 429],
  },
  {
    method: 'get',
    path: '/v1/jobs',
    summary: "List the tenant's jobs (admins: every tenant), newest first, from the jobs read model",
    scope: 'jobs:read',
    query: jobsListQuerySchema,
    success: {
      status: 200,
      description: 'A page of jobs and the cursor of the next',
      schema: jobListSchema,
      example: { jobs: [], nextCursor: null },
    },
    errors: [400, 401, 403, 429, 503],
  },
  {
    method: 'post',
    path: '/v1/jobs/{id}/cancel',
    summary: 'Cancel a queued, delayed or running job (its container is killed); idempotent',
    scope: 'jobs:cancel',
    body: { schema: jobNoteSchema, example: { reason: 'submitted by mistake' } },
    success: { status: 200, description: 'The job, cancelled', schema: jobViewSchema },
    errors: [400, 401, 403, 404, 409, 429],
  },
  {
    method: 'post',
    path: '/v1/jobs/{id}/retry',
    summary: 'Run a finished job again: a new attempt in the same history, with who asked and why',
    scope: 'jobs:submit',
    body: { schema: jobNoteSchema, example: { reason: 'the upstream outage is over' } },
    success: { status: 202, description: 'The job, queued again', schema: jobViewSchema },
    errors: [400, 401, 403, 404, 409, 429],
  },
  {
    method: 'get',
    path: '/v1/jobs/{id}/output',
    summary: 'Output recorded so far as ordered chunks; ?follow=1 streams it as Server-Sent Events',
    scope: 'jobs:read',
    success: {
      status: 200,
      description: 'Output chunks (JSON), or text/event-stream with follow=1',
      schema: jobOutputSchema,
      example: {
        id: exampleJobId,
        status: 'running',
        finished: false,
        chunks: [{ version: 3, attempt: 1, seq: 1, stream: 'stdout', text: 'hello\n' }],
      },
    },
    errors: [400, 401, 403, 404, 429],
  },
  {
    method: 'get',
    path: '/v1/jobs/{id}/watch',
    summary:
      "The job's events, history then live, until it finishes: a WebSocket when upgraded, else Server-Sent Events",
    scope: 'events:read',
    success: {
      status: 200,
      description: 'text/event-stream (or 101 Switching Protocols)',
      contentType: 'text/event-stream',
    },
    errors: [400, 401, 403, 404, 429],
  },
  {
    method: 'get',
    path: '/v1/jobs/{id}/at/{position}',
    summary: 'The job as it stood at a global log position',
    scope: 'jobs:read',
    success: { status: 200, description: 'The folded state at that position', schema: jobAtSchema },
    errors: [400, 401, 403, 404, 429],
  },
  {
    method: 'get',
    path: '/v1/jobs/{id}/verify',
    summary: "Recompute the job stream's hash chain: verified, or the first version that does not hold",
    scope: 'jobs:read',
    success: {
      status: 200,
      description: 'What the chain check found',
      schema: jobVerificationSchema,
      example: {
        verified: false,
        events: 7,
        lastPosition: 5120,
        lastVersion: 7,
        firstBadVersion: 4,
        problem: 'hash-mismatch',
      },
    },
    errors: [401, 403, 404, 429, 503],
  },
  {
    method: 'get',
    path: '/v1/events',
    summary: 'Page through the global log in commit order (admin)',
    scope: 'admin',
    query: eventsPageQuerySchema,
    success: {
      status: 200,
      description: 'A page of events and the cursor after it',
      schema: eventPageSchema,
      example: { events: [], next: null },
    },
    errors: [400, 401, 403, 429],
  },
  {
    method: 'get',
    path: '/v1/events/watch',
    summary: 'The global log, history then live, as Server-Sent Events (admin)',
    scope: 'admin',
    query: eventsWatchQuerySchema,
    success: {
      status: 200,
      description: 'text/event-stream, one event per log entry',
      contentType: 'text/event-stream',
    },
    errors: [400, 401, 403, 429],
  },
  {
    method: 'get',
    path: '/v1/admin/verify',
    summary:
      "Verify every stream's hash chain (and stored files): the result when the deployment's run " +
      "ends within a third of the handler timeout, else 202 with the run's location",
    scope: 'admin',
    success: {
      status: 200,
      description: 'The verification (ok: false names the broken event)',
      schema: chainVerificationSchema,
      example: { ok: true, eventsChecked: 42 },
    },
    errors: [401, 403, 429, 503],
  },
  {
    method: 'post',
    path: '/v1/admin/verify',
    summary:
      'Start a verification run in the background, or join the one running (one per deployment); ' +
      'since=checkpoint walks only what committed after the last run that held',
    scope: 'admin',
    query: verifyStartQuerySchema,
    success: {
      status: 202,
      description: 'The run; Location names it',
      schema: verifyRunSchema,
      example: exampleVerifyRun,
    },
    errors: [400, 401, 403, 429],
  },
  {
    method: 'get',
    path: '/v1/admin/verify/runs/{id}',
    summary: 'A verification run: progress, then its result (from any replica)',
    scope: 'admin',
    success: {
      status: 200,
      description: 'The run (abandoned: its owner process died)',
      schema: verifyRunSchema,
      example: {
        ...exampleVerifyRun,
        status: 'finished',
        eventsChecked: 300000,
        finishedAt: '2026-12-02T07:20:13.743Z',
        result: { ok: true, eventsChecked: 300000 },
      },
    },
    errors: [401, 403, 404, 429],
  },
  {
    method: 'delete',
    path: '/v1/admin/verify/runs/{id}',
    summary: 'Stop a verification run after its current batch',
    scope: 'admin',
    success: {
      status: 202,
      description: 'The run, stopping (200 when it had already ended)',
      schema: verifyRunSchema,
      example: exampleVerifyRun,
    },
    errors: [401, 403, 404, 429],
  },
  {
    method: 'get',
    path: '/v1/secrets',
    summary: "Names of the tenant's secrets (never their values)",
    scope: 'secrets:read',
    success: {
      status: 200,
      description: 'The names',
      schema: secretListSchema,
      example: { secrets: [{ name: 'api-key' }] },
    },
    errors: [401, 403, 429, 503],
  },
  {
    method: 'put',
    path: '/v1/secrets/{name}',
    summary: 'Store a secret, encrypted at rest; jobs reference it by name',
    scope: 'secrets:write',
    body: { schema: putSecretBodySchema, example: { value: 's3cr3t-value' } },
    success: { status: 204, description: 'Stored' },
    errors: [400, 401, 403, 429, 503],
  },
  {
    method: 'post',
    path: '/v1/webhooks',
    summary:
      "Subscribe a URL to the tenant's jobs' ends (signed POSTs, Standard Webhooks); the signing secret is returned this once",
    scope: 'webhooks:write',
    body: {
      schema: createWebhookBodySchema,
      example: { url: 'https://hooks.example.com/omni', events: ['JobSucceeded', 'JobFailed'] },
    },
    success: {
      status: 201,
      description: 'Subscribed',
      schema: createdWebhookSchema,
      example: { ...exampleWebhook, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' },
    },
    errors: [400, 401, 403, 409, 429, 503],
  },
  {
    method: 'get',
    path: '/v1/webhooks',
    summary: "The tenant's webhook subscriptions (never their secrets)",
    scope: 'webhooks:read',
    success: {
      status: 200,
      description: 'The subscriptions',
      schema: z.object({ webhooks: z.array(webhookViewSchema) }),
      example: { webhooks: [exampleWebhook] },
    },
    errors: [401, 403, 429, 503],
  },
  {
    method: 'get',
    path: '/v1/webhooks/{id}',
    summary: 'One webhook subscription',
    scope: 'webhooks:read',
    success: {
      status: 200,
      description: 'The subscription',
      schema: webhookViewSchema,
      example: exampleWebhook,
    },
    errors: [401, 403, 404, 429, 503],
  },
  {
    method: 'delete',
    path: '/v1/webhooks/{id}',
    summary: 'End a subscription: no delivery is owed to it from now on',
    scope: 'webhooks:write',
    success: { status: 204, description: 'Ended' },
    errors: [401, 403, 404, 429, 503],
  },
  {
    method: 'get',
    path: '/healthz',
    summary: 'Liveness',
    success: { status: 200, description: 'Alive', schema: healthSchema, example: { status: 'ok' } },
    errors: [],
  },
  {
    method: 'get',
    path: '/readyz',
    summary: 'Readiness: Postgres, migrations, Redis',
    success: {
      status: 200,
      description: 'Ready (503 with the same body when not)',
      schema: readinessSchema,
      example: { status: 'ready', checks: { postgres: { ok: true } } },
    },
    errors: [503],
  },
  {
    method: 'post',
    path: '/v1/files',
    summary: 'Upload a file (the raw bytes; Content-Type is kept as its media type)',
    scope: 'files:write',
    query: uploadQuerySchema,
    rawBody: {
      description: 'The file’s bytes, streamed; larger than FILES_MAX_UPLOAD_MB is refused with 413',
    },
    success: { status: 201, description: 'Stored', schema: fileViewSchema, example: exampleFile },
    errors: [400, 401, 403, 413, 429, 503],
  },
  {
    method: 'get',
    path: '/v1/files',
    summary: 'The tenant’s files and artifacts, newest first',
    scope: 'files:read',
    query: listFilesQuerySchema,
    success: {
      status: 200,
      description: 'A page of files',
      schema: fileListSchema,
      example: { files: [exampleFile], next: null },
    },
    errors: [400, 401, 403, 429, 503],
  },
  {
    method: 'get',
    path: '/v1/files/{id}/meta',
    summary: 'A file’s name, size, media type and SHA-256',
    scope: 'files:read',
    success: { status: 200, description: 'The file', schema: fileViewSchema, example: exampleFile },
    errors: [401, 403, 404, 429, 503],
  },
  {
    method: 'get',
    path: '/v1/files/{id}',
    summary: 'Download a file: its bytes as an attachment, with ETag and Repr-Digest of its SHA-256',
    scope: 'files:read',
    success: { status: 200, description: 'The bytes', contentType: 'application/octet-stream' },
    errors: [401, 403, 404, 410, 429, 503],
  },
  {
    method: 'delete',
    path: '/v1/files/{id}',
    summary: 'Delete a file; the log keeps its name and hash',
    scope: 'files:write',
    success: { status: 204, description: 'Deleted' },
    errors: [401, 403, 404, 429, 503],
  },
  {
    method: 'get',
    path: '/v1/me',
    summary: 'Who the bearer token says you are: subject, tenant, scopes, expiry',
    success: {
      status: 200,
      description: 'The verified principal',
      schema: meSchema,
      example: { subject: 'dev-user', tenant: 'default', scopes: ['jobs:read'], expiresAt: null },
    },
    errors: [401, 429],
  },
  {
    method: 'get',
    path: '/v1/jobs/counts',
    summary: "How many of the tenant's jobs are in each status (the list's filters but status)",
    scope: 'jobs:read',
    query: jobCountsQuerySchema,
    success: {
      status: 200,
      description: 'Counts per status',
      schema: jobCountsSchema,
      example: {
        counts: { queued: 2, running: 1, succeeded: 40, failed: 3, cancelled: 0, expired: 0 },
        total: 46,
      },
    },
    errors: [400, 401, 403, 429, 503],
  },
  {
    method: 'post',
    path: '/v1/jobs/batch',
    summary: `Submit up to ${maxBatchJobs} jobs in one request and one commit; each item is refused alone (or, atomic, refuses the batch)`,
    scope: 'jobs:submit',
    body: {
      schema: jobBatchBodySchema,
      example: {
        jobs: [
          { image: 'omni-busybox:latest', command: ['echo', 'one'], idempotencyKey: 'nightly-2026-12-03-1' },
          { image: 'omni-busybox:latest', command: ['echo', 'two'], labels: { team: 'data' } },
        ],
        atomic: false,
      },
    },
    success: {
      status: 200,
      description:
        'One result per item, in the order sent: queued, replayed (its key named that job already) or refused',
      schema: jobBatchResultSchema,
      example: {
        results: [
          {
            index: 0,
            outcome: 'queued',
            id: exampleJobId,
            links: { ...exampleLinks, output: `/v1/jobs/${exampleJobId}/output` },
          },
          {
            index: 1,
            outcome: 'refused',
            id: null,
            problem: {
              status: 400,
              code: 'validation-failed',
              title: 'The request is invalid',
              detail: 'one or more fields are invalid',
              errors: [
                { pointer: '/jobs/1/image', detail: 'image is not on the allowlist (omni-busybox:latest)' },
              ],
            },
          },
        ],
        summary: { queued: 1, replayed: 0, refused: 1 },
      },
    },
    errors: [400, 401, 403, 409, 413, 429, 503],
  },
  ...(['cancel', 'retry'] as const).map(
    (action): DocumentedOperation => ({
      method: 'post',
      path: `/v1/jobs/bulk-${action}`,
      summary: `${action === 'cancel' ? 'Cancel' : 'Retry'} every job the list filter matches (at most maxJobs), as one operation whose id every event carries`,
      scope: action === 'cancel' ? 'jobs:cancel' : 'jobs:submit',
      body: {
        schema: bulkActionBodySchema,
        example: {
          filter: { status: ['failed'], label: ['team=data'] },
          reason: 'disk replaced',
          maxJobs: 50,
        },
      },
      success: {
        status: 200,
        description: 'What happened to each job (dryRun: only how many match)',
        schema: bulkActionResultSchema,
        example: {
          operationId: '0b9a7f1e-2d4c-4e5f-8a6b-7c8d9e0f1a2b',
          action,
          dryRun: false,
          matched: 1,
          results: [
            { id: exampleJobId, outcome: 'changed', status: action === 'cancel' ? 'cancelled' : 'queued' },
          ],
          summary: { changed: 1, unchanged: 0, refused: 0, missing: 0 },
        },
      },
      errors: [400, 401, 403, 429, 503],
    }),
  ),
  {
    method: 'get',
    path: '/v1/admin/queue-health',
    summary:
      'Backlog and running jobs per tenant against the cap, p50/p95 submitted → started, workers and what they hold, jobs finished per minute (last hour)',
    scope: 'admin',
    success: {
      status: 200,
      description: 'Queue health from the jobs read model',
      schema: queueHealthSchema,
      example: {
        tenants: [{ tenant: 'default', queued: 3, running: 1, cap: 8 }],
        queued: 3,
        running: 1,
        tenantCap: 8,
        schedulingDelay: { windowSeconds: 3600, started: 12, p50Ms: 140, p95Ms: 910 },
        workers: [
          {
            workerId: 'worker-7f3a',
            leaseExpiresAt: '2026-01-05T10:00:30.000Z',
            alive: true,
            running: [
              {
                jobId: '0194a3c2-5b7e-7c1d-9f00-3e1a2b4c5d6e',
                attempt: 1,
                tenant: 'default',
                image: 'alpine:3.20',
                status: 'running',
              },
            ],
          },
        ],
        throughput: [{ minute: '2026-01-05T09:59:00Z', succeeded: 4, failed: 1, cancelled: 0, expired: 0 }],
      },
    },
    errors: [401, 403, 429],
  },
  ...scheduleOperations,
  {
    method: 'get',
    path: '/metrics',
    summary: 'Metrics in the Prometheus text format',
    success: { status: 200, description: 'Metrics', contentType: 'text/plain' },
    errors: [],
  },
];

const errorTitles: Record<number, string> = {
  400: 'Invalid request',
  401: 'Missing or invalid bearer token',
  403: 'Missing scope',
  404: 'Not found (or another tenant’s)',
  409: 'Conflict with the current state',
  410: 'Recorded, but the bytes are gone',
  413: 'Body too large',
  429: 'Rate limited (see Retry-After)',
  503: 'Unavailable',
};

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, { io, unrepresentable: 'any' });

/** The OpenAPI 3.1 document. */
export function buildOpenApiDocument(options: { readonly version: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const operation of documentedOperations) {
    const parameters: unknown[] = [...operation.path.matchAll(/\{(\w+)\}/g)].map((match) => ({
      name: match[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    for (const [name, schema] of Object.entries(operation.query?.shape ?? {})) {
      parameters.push({
        name,
        in: 'query',
        required: false,
        schema: jsonSchema(schema as z.ZodType, 'input'),
      });
    }
    const success = operation.success;
    paths[operation.path] ??= {};
    (paths[operation.path] as Record<string, unknown>)[operation.method] = {
      summary: operation.summary,
      operationId: `${operation.method}${operation.path
        .replace(/[{}]/g, '')
        .replace(/\/(\w)/g, (_, c: string) => c.toUpperCase())
        .replace(/\W/g, '')}`,
      ...(operation.scope
        ? { security: [{ bearer: [operation.scope] }], 'x-required-scope': operation.scope }
        : { security: [] }),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(operation.body
        ? {
            requestBody: {
              required: true,
              content: {
                'application/json': {
                  schema: jsonSchema(operation.body.schema, 'input'),
                  example: operation.body.example,
                },
              },
            },
          }
        : operation.rawBody
          ? {
              requestBody: {
                required: true,
                description: operation.rawBody.description,
                content: { '*/*': { schema: { type: 'string', format: 'binary' } } },
              },
            }
          : {}),
      responses: {
        [success.status]: {
          description: success.description,
          ...(success.schema
            ? {
                content: {
                  [success.contentType ?? 'application/json']: {
                    schema: jsonSchema(success.schema, 'output'),
                    example: success.example,
                  },
                },
              }
            : success.contentType
              ? { content: { [success.contentType]: { schema: { type: 'string' } } } }
              : {}),
        },
        ...Object.fromEntries(
          operation.errors.map((status) => [
            status,
            {
              description: errorTitles[status] ?? 'Error',
              content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
            },
          ]),
        ),
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'omni',
      version: options.version,
      description:
        'Run untrusted jobs in hardened sandboxes, with a complete, verifiable history of every job as immutable events.',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: { Problem: jsonSchema(problemSchema, 'output') },
    },
    paths,
  };
}
