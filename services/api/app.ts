import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { secureHeaders } from 'hono/secure-headers';
import { timeout } from 'hono/timeout';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { AppendListener } from '../../events/append-listener.ts';
import type { EventStore } from '../../events/event-store.ts';
import type { Database } from '../../events/tables.ts';
import type { FileCatalog } from '../../files/file-catalog.ts';
import { healthSchema, readinessSchema } from '../../schemas/api.schema.ts';
import type { SandboxPolicy } from '../../schemas/config.schema.ts';
import type { SecretVault } from '../../secrets/secret-vault.ts';
import { createAdminRoutes } from './admin.routes.ts';
import { type AuthVariables, bearerAuth, requireScope } from './bearer-auth.middleware.ts';
import { type ClientAddressVariables, clientAddress } from './client-address.ts';
import { createConsoleRoutes } from './console.routes.ts';
import { createDocsRoutes } from './docs.routes.ts';
import { createErrorHandler } from './error-handler.ts';
import { createEventsRoutes } from './events.routes.ts';
import { createFilesRoutes } from './files.routes.ts';
import { createJobBatchRoutes } from './job-batch.routes.ts';
import { createJobBulkRoutes } from './job-bulk.routes.ts';
import { createJobCountsRoutes } from './job-counts.routes.ts';
import { createJobLifecycleRoutes } from './job-lifecycle.routes.ts';
import { createJobOutputRoutes } from './job-output.routes.ts';
import { createJobVerifyRoutes } from './job-verify.routes.ts';
import { createJobWatchRoutes } from './job-watch.routes.ts';
import { createJobsRoutes } from './jobs.routes.ts';
import { createJobsListRoutes } from './jobs-list.routes.ts';
import { createMeRoutes } from './me.routes.ts';
import { buildOpenApiDocument } from './openapi-document.ts';
import { jsonResponse, unauthenticated } from './openapi-route.ts';
import { ProblemError, problemResponse } from './problem.ts';
import { createQueueHealthRoutes } from './queue-health.routes.ts';
import { type RateLimitOptions, rateLimit } from './rate-limit.middleware.ts';
import { type RequestIdVariables, requestIds } from './request-id.middleware.ts';
import { createSchedulesRoutes } from './schedules.routes.ts';
import { createSecretsRoutes } from './secrets.routes.ts';
import type { Principal } from './token-verifier.ts';
import { tracing } from './tracing.middleware.ts';
import { unauthenticatedRateLimit } from './unauthenticated-rate-limit.middleware.ts';
import { validationHook } from './validation-hook.ts';
import { createWebhooksRoutes, type WebhookApiDeps } from './webhooks.routes.ts';

export interface AppDeps {
  readonly store: EventStore;
  /** Idempotency keys and the jobs read model (listing); absent: those answer 503. */
  readonly db?: Kysely<Database>;
  readonly policy: SandboxPolicy;
  readonly verifyToken: (token: string) => Promise<Principal>;
  readonly logger: Logger;
  readonly secrets?: SecretVault;
  /** Uploads and artifacts; absent: /v1/files answers 503 and jobs cannot name inputs. */
  readonly files?: FileCatalog;
  /** Largest upload (POST /v1/files); default 32 MiB. */
  readonly maxUploadBytes?: number;
  /** Absent: no rate limiting (tests of other concerns, single-user tools). */
  readonly rateLimit?: RateLimitOptions;
  /** Reverse proxies in front whose `X-Forwarded-For` is believed; default 0 (the socket's peer is the client). */
  readonly trustProxy?: number;
  readonly corsOrigins?: readonly string[];
  readonly maxBodyBytes?: number;
  readonly requestTimeoutMs?: number;
  /** Counts refused requests by status, for metrics. */
  readonly onRefused?: (status: 401 | 403 | 429) => void;
  /** Wakes live feeds when any process appends; without it they poll. */
  readonly appendListener?: AppendListener;
  /** The product version shown in the OpenAPI document. */
  readonly version?: string;
  /** Prometheus text for `/metrics`; absent: no such route. */
  readonly metricsText?: () => Promise<string>;
  /** Checks for `/readyz`: each dependency's name → whether it answers. */
  readonly readiness?: () => Promise<
    Readonly<Record<string, { readonly ok: boolean; readonly detail?: string }>>
  >;
  /** The built console (default: console/dist); absent files make /console a 503 saying so. */
  readonly consoleAssetsDirectory?: string;
  /** The per-tenant running cap the workers enforce (TENANT_MAX_RUNNING), shown by queue health. */
  readonly tenantMaxRunning?: number;
  /** Subscriptions and job callbacks; absent (no SECRETS_KEYS): /v1/webhooks and callbacks answer 503. */
  readonly webhooks?: WebhookApiDeps;
}

const health = createRoute({
  method: 'get',
  path: '/healthz',
  tags: ['service'],
  summary: 'Liveness',
  ...unauthenticated,
  responses: { 200: jsonResponse('Alive', healthSchema, { status: 'ok' }) },
});

const readiness = createRoute({
  method: 'get',
  path: '/readyz',
  tags: ['service'],
  summary: 'Readiness: Postgres, migrations, Redis',
  ...unauthenticated,
  responses: {
    200: jsonResponse('Ready', readinessSchema, { status: 'ready', checks: { postgres: { ok: true } } }),
    503: jsonResponse('Not ready: the checks say which dependency does not answer', readinessSchema, {
      status: 'not-ready',
      checks: { postgres: { ok: false, detail: 'connect ECONNREFUSED 127.0.0.1:5432' } },
    }),
  },
});

const metrics = createRoute({
  method: 'get',
  path: '/metrics',
  tags: ['service'],
  summary: 'Metrics in the Prometheus text format',
  ...unauthenticated,
  responses: { 200: { description: 'Metrics', content: { 'text/plain': { schema: z.string() } } } },
});

/** The HTTP API as a Hono app; tested with `app.request()`, served by `@hono/node-server`. */
export function createApp(deps: AppDeps) {
  const app = new OpenAPIHono<{ Variables: AuthVariables & RequestIdVariables & ClientAddressVariables }>({
    defaultHook: validationHook,
  });
  app.onError(createErrorHandler(deps.logger));
  app.notFound((c) =>
    problemResponse(c, new ProblemError({ status: 404, code: 'route-not-found', title: 'No such route' })),
  );
  app.use(tracing());
  app.use(requestIds());
  app.use(clientAddress({ trustProxy: deps.trustProxy ?? 0 }));
  app.use(secureHeaders());
  if (deps.corsOrigins && deps.corsOrigins.length > 0) {
    app.use(
      cors({
        origin: [...deps.corsOrigins],
        allowHeaders: ['authorization', 'content-type', 'idempotency-key', 'x-request-id'],
        exposeHeaders: ['location', 'retry-after', 'x-request-id', 'x-client-request-id'],
      }),
    );
  }
  const requestBodyLimit = bodyLimit({
    maxSize: deps.maxBodyBytes ?? 2 * 1024 * 1024,
    onError: () => {
      throw new ProblemError({
        status: 413,
        code: 'payload-too-large',
        title: 'The request body is too large',
      });
    },
  });
  const maxUploadBytes = deps.maxUploadBytes ?? 32 * 1024 * 1024;
  // Uploads have their own, larger cap, enforced by the route as the body streams in.
  app.use((c, next) =>
    c.req.method === 'POST' && c.req.path === '/v1/files' ? next() : requestBodyLimit(c, next),
  );
  app.use(
    timeout(
      deps.requestTimeoutMs ?? 15_000,
      () =>
        new ProblemError({
          status: 503,
          code: 'request-timeout',
          title: 'The request took too long',
          headers: { 'retry-after': '1' },
        }) as never,
    ),
  );

  app.openapi(health, (c) => c.json({ status: 'ok' as const }, 200));
  app.get('/', (c) => c.redirect('/console', 302));
  app.route(
    '/console',
    createConsoleRoutes(deps.consoleAssetsDirectory ? { assetsDirectory: deps.consoleAssetsDirectory } : {}),
  );
  // Built on the first request, when every route below has been defined.
  app.route('/', createDocsRoutes({ document: () => buildOpenApiDocument(app, deps.version ?? '0.0.0') }));
  app.openapi(readiness, async (c) => {
    const checks = deps.readiness ? await deps.readiness() : {};
    if (Object.values(checks).every((check) => check.ok))
      return c.json({ status: 'ready' as const, checks }, 200);
    return c.json({ status: 'not-ready' as const, checks }, 503);
  });
  if (deps.metricsText) {
    const metricsText = deps.metricsText;
    app.openapi(metrics, async (c) =>
      c.text(await metricsText(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }),
    );
  }
  // Refusals (401, 403, 429) are counted here, once, whichever middleware or route refused.
  const onRefused = deps.onRefused;
  if (onRefused) {
    app.use('/v1/*', async (c, next) => {
      await next();
      const status = c.res.status;
      if (status === 401 || status === 403 || status === 429) onRefused(status);
    });
  }
  // Before authentication, so it sees (and counts) what authentication refuses.
  const perAddress = deps.rateLimit?.perAddressUnauthenticated;
  if (deps.rateLimit && perAddress !== undefined) {
    app.use('/v1/*', unauthenticatedRateLimit({ ...deps.rateLimit, perAddress, logger: deps.logger }));
  }
  app.use('/v1/*', bearerAuth({ verify: deps.verifyToken, logger: deps.logger }));
  if (deps.rateLimit) app.use('/v1/*', rateLimit(deps.rateLimit));
  app.route('/v1/me', createMeRoutes());
  app.route('/v1/jobs', createJobsListRoutes(deps));
  // Before the job routes, whose /:id would otherwise take "counts" for a job id.
  app.route('/v1/jobs', createJobCountsRoutes(deps));
  app.route('/v1/jobs', createJobBulkRoutes(deps));
  app.route('/v1/jobs', createJobBatchRoutes(deps));
  app.route('/v1/jobs', createJobsRoutes(deps));
  app.route('/v1/jobs', createJobLifecycleRoutes(deps));
  app.route('/v1/jobs', createJobOutputRoutes(deps));
  app.route('/v1/jobs', createJobWatchRoutes(deps));
  app.route('/v1/jobs', createJobVerifyRoutes(deps));
  app.route('/v1/events', createEventsRoutes(deps));
  app.route('/v1/secrets', createSecretsRoutes(deps));
  app.route('/v1/schedules', createSchedulesRoutes(deps));
  app.route('/v1/webhooks', createWebhooksRoutes(deps));
  app.route('/v1/files', createFilesRoutes({ ...(deps.files ? { files: deps.files } : {}), maxUploadBytes }));
  if (deps.db) {
    app.use('/v1/admin/*', requireScope('admin'));
    const files = deps.files;
    app.route(
      '/v1/admin',
      createQueueHealthRoutes({
        db: deps.db,
        ...(deps.tenantMaxRunning === undefined ? {} : { tenantMaxRunning: deps.tenantMaxRunning }),
      }),
    );
    app.route(
      '/v1/admin',
      createAdminRoutes({
        db: deps.db,
        ...(files ? { blobs: { get: (key) => files.blob(key) } } : {}),
        // A third of the handler timeout: the answer (result or 202) always leaves in time.
        answerWithinMs: Math.min(5000, (deps.requestTimeoutMs ?? 15_000) / 3),
        onError: (error) => deps.logger.error({ err: error }, 'verify run failed'),
      }),
    );
  }
  return app;
}

export type App = ReturnType<typeof createApp>;
