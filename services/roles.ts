import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import type { Worker } from 'bullmq';
import type Docker from 'dockerode';
import { Redis } from 'ioredis';
import type { JSONWebKeySet } from 'jose';
import { type Kysely, sql } from 'kysely';
import type { Logger } from 'pino';
import { loadAnchorPrivateKey } from '../events/anchor-signature.ts';
import { startAnchorTimer } from '../events/anchor-timer.ts';
import { createAppendListener } from '../events/append-listener.ts';
import { isDatabaseUnavailable } from '../events/database-errors.ts';
import { createEventStore, type EventStore } from '../events/event-store.ts';
import { type RunningProjection, startProjectionRunner } from '../events/projections/projection-runner.ts';
import type { Database } from '../events/tables.ts';
import { configuredBlobStore } from '../files/configured-blob-store.ts';
import { createFileCatalog, type FileCatalog } from '../files/file-catalog.ts';
import { jobsProjection } from '../jobs/jobs.projection.ts';
import { startScheduleFiringLoop } from '../schedules/schedule-firing-loop.ts';
import { schedulesProjection } from '../schedules/schedules.projection.ts';
import { eventReadSchemas } from '../schemas/event-read-schemas.ts';
import { openSecret, sealSecret } from '../secrets/secret-cipher.ts';
import { createSecretVault, type SecretVault } from '../secrets/secret-vault.ts';
import { callbackSecret, type SigningKeys } from '../webhooks/signing-keys.ts';
import { startWebhookDelivery } from '../webhooks/webhook-delivery.ts';
import { createWebhookSubscriptions } from '../webhooks/webhook-subscriptions.ts';
import { startDispatcher } from '../workers/dispatcher.ts';
import { startExecutorWorker } from '../workers/executor-worker.ts';
import { createJobQueue } from '../workers/job-queue.ts';
import { createAttemptControl } from '../workers/lifecycle/attempt-control.ts';
import { createAttemptHoldings } from '../workers/lifecycle/attempt-holdings.ts';
import { createOutageGate, type OutageProbe } from '../workers/lifecycle/outage-gate.ts';
import { startReconciler } from '../workers/lifecycle/reconciler.ts';
import { createTenantSlots } from '../workers/lifecycle/tenant-slots.ts';
import { createWorkerLeases } from '../workers/lifecycle/worker-leases.ts';
import { startWorkerLifecycle } from '../workers/lifecycle/worker-lifecycle.ts';
import { createRunJobProcessor, type RunJobProcessor } from '../workers/run-job.processor.ts';
import { checkAllowedImages } from '../workers/sandbox/allowed-images-check.ts';
import { engineAddress } from '../workers/sandbox/docker-errors.ts';
import { createDockerSandbox } from '../workers/sandbox/docker-sandbox.ts';
import { dockerEngineProbe } from '../workers/sandbox/engine-probe.ts';
import { createApp } from './api/app.ts';
import { serveApp } from './api/serve.ts';
import { createTokenVerifier } from './api/token-verifier.ts';
import type { Config } from './config.ts';
import { createFaultLog } from './logger.ts';
import { createReadinessCheck } from './readiness.ts';
import { createInstrumentedEventStore } from './telemetry/instrument-event-store.ts';
import { instrumentSandbox } from './telemetry/instrument-sandbox.ts';
import { instruments } from './telemetry/instruments.ts';
import { observeQueue } from './telemetry/queue-metrics.ts';
import type { Telemetry } from './telemetry/telemetry.ts';
import { createReportingUnreadableEventLog } from './telemetry/unreadable-event-reporting.ts';

const productVersion = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

export interface RoleDeps {
  readonly config: Config;
  readonly db: Kysely<Database>;
  readonly docker: Docker;
  readonly logger: Logger;
  /** The HS256 secret in force (configured or generated for development); none: HS256 is refused. */
  readonly jwtSecret?: string;
  /** Serves `/metrics` when telemetry is on. */
  readonly telemetry?: Telemetry;
  /**
   * One Redis connection every role shares, owned (and closed) by the caller; default: each role
   * opens its own from REDIS_URL, with the retry behaviour it needs.
   */
  readonly redis?: Redis;
  /**
   * Labels on every sandbox container, by which the worker's reaper finds its own leftovers;
   * default: the deployment's label (QUEUE_PREFIX), so a reaper only ever touches its own.
   */
  readonly containerLabels?: Readonly<Record<string, string>>;
}

/** A started role; `stop` drains it. */
export interface RunningRole {
  readonly name: string;
  stop(): Promise<void>;
}

/** The secret vault, when the operator configured keys to seal secrets with. */
function secretVaultFor(deps: RoleDeps, store: EventStore): SecretVault | undefined {
  return deps.config.secretKeys.length > 0
    ? createSecretVault(deps.db, store, deps.config.secretKeys)
    : undefined;
}

/**
 * Webhook signing secrets sealed and opened by the secrets room's cipher under SECRETS_KEYS; none
 * configured: no webhooks (a secret could not be kept).
 */
function signingKeysFor(deps: RoleDeps): SigningKeys | undefined {
  const keys = deps.config.secretKeys;
  const active = keys[0];
  if (!active) return undefined;
  return {
    keys,
    seal: (associatedData, value) => sealSecret(active, associatedData, value),
    open: (associatedData, sealed) => openSecret(keys, associatedData, sealed),
  };
}

/** What the API needs of webhooks: subscriptions, the address policy, job callback secrets. */
function webhookApiFor(deps: RoleDeps) {
  const signing = signingKeysFor(deps);
  const active = signing?.keys[0];
  if (!signing || !active) return undefined;
  return {
    subscriptions: createWebhookSubscriptions(deps.db, signing),
    allowPrivate: deps.config.webhooks.allowPrivate,
    callbackSecret: (jobId: string) => callbackSecret(active.key, jobId),
  };
}

/** Files and artifacts over the configured blob store: Postgres unless the operator chose a bucket. */
function fileCatalogFor(deps: RoleDeps): FileCatalog {
  return createFileCatalog(deps.db, configuredBlobStore(deps.config.files, deps.db));
}

const redisHint =
  'Redis is unreachable: queueing waits until it is back; check that Redis is up and REDIS_URL';
const queueHint = 'the queue reported an error; the reconciler re-derives lost messages from the log';

/** A role's Redis connection, and how it lets go of it: only one it opened itself is closed. */
interface RoleRedis {
  readonly redis: Redis;
  release(): void;
}

// BullMQ's blocking commands must wait forever rather than fail after a retry count. Without an
// 'error' listener ioredis prints raw `[ioredis] Unhandled error event` text on every reconnect.
function redisFor(deps: RoleDeps, logger: Logger, options: { readonly failFast?: boolean } = {}): RoleRedis {
  if (deps.redis) return { redis: deps.redis, release: () => undefined };
  // The API's commands (request limits, readiness) must fail within a reconnect attempt instead:
  // queued until Redis returns, every request hung until its timeout.
  const redis = new Redis(deps.config.redisUrl, { maxRetriesPerRequest: options.failFast ? 1 : null });
  redis.on('error', createFaultLog(logger)('redis', redisHint));
  return { redis, release: () => redis.disconnect() };
}

/** The jobs projection's failures: an outage as one throttled line, anything else in full. */
function projectionErrorLog(logger: Logger): (error: unknown) => void {
  const outage = createFaultLog(logger)(
    'postgres',
    'the jobs projection waits for Postgres and resumes from its checkpoint',
  );
  return (error) => {
    if (isDatabaseUnavailable(error)) outage(error);
    else logger.error({ err: error }, 'jobs projection failed; retrying');
  };
}

/** How the worker's outage gate asks whether Postgres is back: a trivial query on the pool. */
function postgresProbe(deps: RoleDeps): OutageProbe {
  const url = new URL(deps.config.databaseUrl);
  return {
    // Host and database only: the log never carries the password.
    address: `${url.host}${url.pathname}`,
    check: () => sql`select 1`.execute(deps.db),
  };
}

/** The labels on every sandbox container the worker starts and its reaper may remove. */
const containerLabelsFor = (deps: RoleDeps) =>
  deps.containerLabels ?? { 'omni.deployment': deps.config.queuePrefix };

/**
 * The jobs read model behind GET /v1/jobs, kept by the API (or the projector role); with several
 * replicas one owns it (an advisory lock) and the others stand by.
 */
function startJobsProjection(deps: RoleDeps): Promise<RunningProjection> {
  return startProjectionRunner({
    db: deps.db,
    connectionString: deps.config.databaseUrl,
    projection: jobsProjection,
    unreadable: createReportingUnreadableEventLog(deps.db, deps.logger),
    // The list (GET /v1/jobs) trails the log by at most this much more; a busy log costs one
    // projection transaction (7 statements) per 25 ms instead of one per commit. At 600 submits/s
    // the API sent 2.2 statements per request with 10 ms, 1.3 with 25 and 1.24 with 50.
    gatherMs: 25,
    onError: projectionErrorLog(deps.logger),
  });
}

/**
 * The schedules read model behind GET /v1/schedules and the dispatcher's firing loop (which asks
 * it which schedules are due), kept beside the jobs read model wherever that runs.
 */
function startSchedulesProjection(deps: RoleDeps): Promise<RunningProjection> {
  return startProjectionRunner({
    db: deps.db,
    connectionString: deps.config.databaseUrl,
    projection: schedulesProjection,
    unreadable: createReportingUnreadableEventLog(deps.db, deps.logger),
    gatherMs: 10,
    onError: projectionErrorLog(deps.logger),
  });
}

/** The API's application with what it needs running (notifications, the jobs read model), not yet served. */
export interface ComposedApi {
  readonly app: ReturnType<typeof createApp>;
  readonly store: EventStore;
  readonly files: FileCatalog;
  stop(): Promise<void>;
}

/**
 * A client waits on each of the API's appends, so two groups may be in flight: an append that
 * arrives while one commits goes at once instead of waiting behind it (POST /v1/jobs at 600/s: p50
 * 8.1 → 2.9 ms, p99 30 → 17 ms). The other roles' appends keep one group in flight, for fewer,
 * bigger commits.
 */
export const apiAppendGroupsInFlight = 2;

export async function composeApi(deps: RoleDeps): Promise<ComposedApi> {
  const { auth } = deps.config;
  const store = createInstrumentedEventStore(deps.db, { appendGroupsInFlight: apiAppendGroupsInFlight });
  const { redis, release } = redisFor(deps, deps.logger.child({ role: 'api' }), { failFast: true });
  const secrets = secretVaultFor(deps, store);
  const { refusedRequests } = instruments();
  const appendListenerLog = createFaultLog(deps.logger.child({ role: 'api' }));
  const appendListener = await createAppendListener(
    deps.config.databaseUrl,
    appendListenerLog('postgres', 'append notifications lost; feeds poll until the session is back'),
    {
      onReconnect: () =>
        deps.logger.info({ role: 'api' }, 'append notifications are back; feeds wake on NOTIFY again'),
    },
  );
  const projection = await startJobsProjection(deps);
  const schedules = await startSchedulesProjection(deps);
  const files = fileCatalogFor(deps);
  const webhooks = webhookApiFor(deps);
  const app = createApp({
    store,
    db: deps.db,
    appendListener,
    version: productVersion,
    policy: deps.config.sandbox,
    verifyToken: createTokenVerifier({
      ...(deps.jwtSecret === undefined ? {} : { secret: new TextEncoder().encode(deps.jwtSecret) }),
      ...(auth.jwks ? { jwks: auth.jwks as unknown as JSONWebKeySet } : {}),
      ...(auth.jwksUrl ? { jwksUrl: auth.jwksUrl } : {}),
      ...(auth.issuer === undefined ? {} : { issuer: auth.issuer }),
      ...(auth.audience === undefined ? {} : { audience: auth.audience }),
      clockToleranceSeconds: auth.clockToleranceSeconds,
      maxTokenAgeSeconds: auth.maxTokenAgeSeconds,
      tenantClaim: auth.tenantClaim,
    }),
    logger: deps.logger.child({ role: 'api' }),
    ...(secrets ? { secrets } : {}),
    ...(webhooks ? { webhooks } : {}),
    files,
    maxUploadBytes: deps.config.files.maxUploadBytes,
    rateLimit: { redis, keyPrefix: deps.config.queuePrefix, ...deps.config.rateLimit },
    trustProxy: deps.config.trustProxy,
    corsOrigins: deps.config.corsOrigins,
    maxBodyBytes: deps.config.maxBodyBytes,
    // Queue health shows running attempts per tenant against this cap.
    tenantMaxRunning: deps.config.tenantMaxRunning,
    requestTimeoutMs: deps.config.requestTimeoutMs,
    onRefused: (status) => refusedRequests.add(1, { status }),
    readiness: createReadinessCheck({ db: deps.db, redis }),
    ...(deps.telemetry ? { metricsText: deps.telemetry.prometheusText } : {}),
  });
  return {
    app,
    store,
    files,
    async stop() {
      await projection.stop();
      await schedules.stop();
      await appendListener.close();
      release();
    },
  };
}

export async function startApiRole(deps: RoleDeps): Promise<RunningRole & { readonly url: string }> {
  const api = await composeApi(deps);
  const served = await serveApp(api.app, deps.config.http);
  return {
    name: 'api',
    url: served.url,
    async stop() {
      await served.close();
      await api.stop();
    },
  };
}

/** The jobs read model alone, for deployments that keep it out of the API processes. */
export async function startProjectorRole(deps: RoleDeps): Promise<RunningRole> {
  const projection = await startJobsProjection(deps);
  const schedules = await startSchedulesProjection(deps);
  return {
    name: 'projector',
    async stop() {
      await projection.stop();
      await schedules.stop();
    },
  };
}

/**
 * Webhook deliveries: a follower of the log (one active across processes) owes them, every
 * process's sender attempts them. It holds no secret but SECRETS_KEYS, which open the signing secrets.
 */
export async function startWebhooksRole(deps: RoleDeps): Promise<RunningRole> {
  const logger = deps.logger.child({ role: 'webhooks' });
  const signing = signingKeysFor(deps);
  if (!signing) {
    logger.warn(
      'no SECRETS_KEYS: webhooks cannot be signed, so none are delivered (the API refuses them too)',
    );
    return { name: 'webhooks', stop: async () => undefined };
  }
  const { webhookAttempts } = instruments();
  const delivery = await startWebhookDelivery({
    db: deps.db,
    connectionString: deps.config.databaseUrl,
    signing,
    logger,
    unreadable: createReportingUnreadableEventLog(deps.db, logger),
    onAttempt: (outcome) =>
      webhookAttempts.add(1, { outcome: outcome.delivered ? 'delivered' : outcome.reason }),
    ...deps.config.webhooks,
  });
  return { name: 'webhooks', stop: () => delivery.stop() };
}

/** The anchor timer when ANCHOR_* is configured; the key is read (and checked) at start-up. */
async function anchorTimerFor(deps: RoleDeps, isActive: () => boolean, logger: Logger) {
  const anchor = deps.config.anchor;
  if (!anchor) return undefined;
  const privateKey = loadAnchorPrivateKey(await readFile(anchor.keyFile));
  return startAnchorTimer({
    db: deps.db,
    privateKey,
    file: anchor.file,
    intervalMs: anchor.intervalMs,
    isActive,
    onAnchor: (written) =>
      logger.info({ position: written.position, count: written.count, root: written.root }, 'log anchored'),
    onError: (error) => logger.error({ err: error }, 'anchoring failed; the next round tries again'),
  });
}

export async function startDispatcherRole(deps: RoleDeps): Promise<RunningRole> {
  const logger = deps.logger.child({ role: 'dispatcher' });
  const { redis: connection, release } = redisFor(deps, logger);
  const queue = createJobQueue({ connection, prefix: deps.config.queuePrefix });
  // Errors of BullMQ's own connections and scripts; unheard, BullMQ prints them as raw stacks.
  queue.on('error', createFaultLog(logger)('queue', queueHint));
  // Unreadable events are counted (omni_events_unreadable_total) besides the table and the alert line.
  const unreadable = createReportingUnreadableEventLog(deps.db, logger);
  const dispatcher = await startDispatcher({
    db: deps.db,
    connectionString: deps.config.databaseUrl,
    queue,
    logger,
    unreadable,
  });
  const stopObservingQueue = observeQueue(queue);
  const anchors = await anchorTimerFor(deps, () => dispatcher.isOwner(), logger);
  const reconciler = startReconciler({
    db: deps.db,
    store: createEventStore(deps.db, { schemas: eventReadSchemas }),
    queue,
    // Waiting attempts' messages are asked about a thousand per call.
    redis: connection,
    leases: createWorkerLeases(deps.db),
    logger,
    unreadable,
    intervalMs: deps.config.reconcileIntervalMs,
    // An attempt a live worker no longer holds (its outcome lost) waits this long before it is abandoned.
    unheldGraceMs: Math.max(10_000, 2 * deps.config.workerLeaseMs),
    // After a database outage workers need a lease period to renew before a lapsed lease means dead.
    leaseMs: deps.config.workerLeaseMs,
    // Under the dispatcher's lock: with several dispatchers only the active one reconciles.
    isActive: () => dispatcher.isOwner(),
  });
  // Due slots are fired by the active dispatcher only; a second one that fires anyway (a lock
  // handed over mid-round) appends nothing, as each slot's events go in at the version read.
  const scheduleFiring = startScheduleFiringLoop({
    db: deps.db,
    store: createEventStore(deps.db, { schemas: eventReadSchemas }),
    actor: 'dispatcher',
    isActive: () => dispatcher.isOwner(),
    onError: (error) => logger.error({ err: error }, 'firing schedules failed; the next round tries again'),
  });
  return {
    name: 'dispatcher',
    async stop() {
      stopObservingQueue();
      await scheduleFiring.stop();
      await anchors?.stop();
      await reconciler.stop();
      await dispatcher.stop();
      await queue.close();
      release();
    },
  };
}

/** A worker's processor, wired; `start` begins taking work (the lifecycle: leases, reaper, executor). */
export interface ComposedWorker {
  readonly workerId: string;
  readonly process: RunJobProcessor;
  start(): Promise<RunningRole & { readonly workerId: string }>;
}

export function composeWorker(deps: RoleDeps): ComposedWorker {
  const workerId = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const logger = deps.logger.child({ role: 'worker', workerId });
  const { redis: connection, release } = redisFor(deps, logger);
  const store = createInstrumentedEventStore(deps.db);
  const secrets = secretVaultFor(deps, store);
  const control = createAttemptControl();
  // Worker-wide: an engine outage one attempt meets stops the whole worker taking work until it ends.
  const gate = createOutageGate({
    probes: { docker: dockerEngineProbe(deps.docker), postgres: postgresProbe(deps) },
    logger,
  });
  const containerLabels = containerLabelsFor(deps);
  const leases = createWorkerLeases(deps.db);
  // Containers started ahead per profile, labelled with this worker's id (a crashed worker's are
  // reaped by the others); drained when the worker stops.
  const sandbox = createDockerSandbox({
    docker: deps.docker,
    policy: deps.config.sandbox,
    extraLabels: containerLabels,
    warmPool: { size: deps.config.sandbox.warmPoolSize ?? 0, workerId },
    onCleanupError: (error, containerId) =>
      logger.warn({ err: error, containerId }, 'could not remove a sandbox container; the reaper will'),
    onWarmFillError: (error) =>
      logger.warn(
        { err: error },
        `could not start a warm container; jobs run cold and filling pauses for 5 s (check the Docker engine at ${engineAddress(deps.docker)})`,
      ),
  });
  const process_ = createRunJobProcessor({
    ...(secrets ? { secrets } : {}),
    files: fileCatalogFor(deps),
    store,
    sandbox: instrumentSandbox(sandbox),
    workerId,
    logger,
    control,
    gate,
    holdings: createAttemptHoldings(leases, workerId, {
      // Throttled: through an outage the drops are tried again every 100 ms.
      onDropError: createFaultLog(logger)(
        'postgres',
        'finished attempts stay listed on the lease until Postgres answers; their drops are tried again',
      ),
    }),
    tenantSlots: createTenantSlots({
      redis: connection,
      prefix: deps.config.queuePrefix,
      limit: deps.config.tenantMaxRunning,
    }),
  });
  return {
    workerId,
    process: process_,
    async start() {
      // Warns for allowlisted images this engine lacks; in the background, never holding up the start.
      void checkAllowedImages(deps.docker, deps.config.sandbox, logger).catch((error: unknown) =>
        logger.warn({ err: error }, 'could not check the allowed images against the engine'),
      );
      const lifecycle = await startWorkerLifecycle({
        workerId,
        store,
        docker: deps.docker,
        leases,
        control,
        gate,
        connectionString: deps.config.databaseUrl,
        logger,
        leaseMs: deps.config.workerLeaseMs,
        shutdownGraceMs: deps.config.workerShutdownGraceMs,
        reaperLabels: Object.entries(containerLabels).map(([key, value]) => `${key}=${value}`),
        // A warm container being started, or whose job just ended, is not stopped-and-forgotten.
        holdsWarm: (labels) => sandbox.holdsWarm(labels),
        startWorker: () => {
          const worker: Worker = startExecutorWorker({
            connection,
            prefix: deps.config.queuePrefix,
            concurrency: deps.config.workerConcurrency,
            process: process_,
          });
          // Errors of BullMQ's own connections and scripts (`Missing key for job …` after a Redis
          // wipe); unheard, BullMQ prints them as raw multi-line stacks.
          worker.on('error', createFaultLog(logger)('queue', queueHint));
          worker.on('failed', (job, error) =>
            logger.error({ err: error, messageId: job?.id }, 'attempt processing failed'),
          );
          return worker;
        },
      });
      return {
        name: 'worker',
        workerId,
        async stop() {
          await lifecycle.stop();
          // No attempt runs any more: the containers waiting for one go too.
          await sandbox
            .close()
            .catch((error: unknown) =>
              logger.warn({ err: error }, 'could not drain the warm pool; the reaper removes what is left'),
            );
          release();
        },
      };
    },
  };
}

export function startWorkerRole(deps: RoleDeps): Promise<RunningRole & { readonly workerId: string }> {
  return composeWorker(deps).start();
}
