import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import Docker from 'dockerode';
import { Redis } from 'ioredis';
import { createAppendListener } from '../../events/append-listener.ts';
import type { EventStore } from '../../events/event-store.ts';
import { startProjectionRunner } from '../../events/projections/projection-runner.ts';
import type { RunningSubscription } from '../../events/subscription.ts';
import { createFileCatalog, type FileCatalog } from '../../files/file-catalog.ts';
import { createPostgresBlobStore } from '../../files/postgres-blob-store.ts';
import { jobsProjection } from '../../jobs/jobs.projection.ts';
import type { FileLimits, SandboxPolicy } from '../../schemas/config.schema.ts';
import { createSecretVault } from '../../secrets/secret-vault.ts';
import { createApp } from '../../services/api/app.ts';
import { createTokenVerifier } from '../../services/api/token-verifier.ts';
import { mintToken } from '../../services/dev-token.ts';
import { createLogger } from '../../services/logger.ts';
import { createInstrumentedEventStore } from '../../services/telemetry/instrument-event-store.ts';
import { instrumentSandbox } from '../../services/telemetry/instrument-sandbox.ts';
import { createReportingUnreadableEventLog } from '../../services/telemetry/unreadable-event-reporting.ts';
import { startDispatcher } from '../../workers/dispatcher.ts';
import { startExecutorWorker } from '../../workers/executor-worker.ts';
import { createJobQueue, type RunJobMessage } from '../../workers/job-queue.ts';
import { createAttemptControl } from '../../workers/lifecycle/attempt-control.ts';
import { createTenantSlots } from '../../workers/lifecycle/tenant-slots.ts';
import { createWorkerLeases } from '../../workers/lifecycle/worker-leases.ts';
import {
  type RunningWorkerLifecycle,
  startWorkerLifecycle,
} from '../../workers/lifecycle/worker-lifecycle.ts';
import { createRunJobProcessor } from '../../workers/run-job.processor.ts';
import { createDockerSandbox } from '../../workers/sandbox/docker-sandbox.ts';
import { createTestDatabase, type TestDatabase } from './test-database.ts';
import { testPolicy } from './test-policy.ts';

export const testSecret = 'test-secret-that-is-long-enough-for-hs256!';
export const testRunLabel = 'omni.test-run';
export const testSecretKey = { id: 'test-key', key: Buffer.alloc(32, 7) };
export const testTokenVerifier = createTokenVerifier({ secret: new TextEncoder().encode(testSecret) });

export interface TestStack {
  readonly database: TestDatabase;
  readonly store: EventStore;
  readonly app: ReturnType<typeof createApp>;
  readonly docker: Docker;
  readonly runId: string;
  readonly processor: ReturnType<typeof createRunJobProcessor>;
  readonly files: FileCatalog;
  readonly queue: Queue<RunJobMessage>;
  readonly prefix: string;
  /** Stops the worker as SIGTERM does: no new work, a grace period, then abandon what still runs. */
  stopWorker(): Promise<void>;
  /** Every log line the stack's roles wrote so far. */
  logs(): readonly string[];
  token(subject?: string, options?: { tenant?: string; scopes?: readonly string[] }): Promise<string>;
  /** Containers this file started that still exist. */
  leftoverContainers(): Promise<readonly string[]>;
  stop(): Promise<void>;
}

export interface TestStackOptions {
  readonly withWorkers?: boolean;
  /** Caps on inputs and collected outputs (default: the product's defaults). */
  readonly fileLimits?: FileLimits;
  /** Largest upload (default 32 MiB). */
  readonly maxUploadBytes?: number;
  /** Running attempts per tenant (default 8). */
  readonly tenantMaxRunning?: number;
  /** Grace period of the worker's stop (default 5 s). */
  readonly shutdownGraceMs?: number;
  /** Attempts the worker runs at once (default 4). */
  readonly workerConcurrency?: number;
}

/**
 * The whole product in one process, isolated for one test file: its own database, its own BullMQ
 * prefix, and a label on every container it starts.
 */
export async function startTestStack(label: string, options: TestStackOptions = {}): Promise<TestStack> {
  const runId = randomUUID();
  const database = await createTestDatabase(label);
  // Instrumented as in production; spans and metrics are no-ops unless a test starts telemetry.
  const store = createInstrumentedEventStore(database.db);
  // Every log line is kept, so tests can assert what never reaches the logs (tokens, secrets).
  const logLines: string[] = [];
  const logger = createLogger('debug', {}, { write: (line: string) => void logLines.push(line) });
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  const prefix = `test-${runId}`;
  const policy: SandboxPolicy = options.fileLimits
    ? { ...testPolicy, files: options.fileLimits }
    : testPolicy;
  const sandbox = instrumentSandbox(
    createDockerSandbox({ docker, policy, extraLabels: { [testRunLabel]: runId } }),
  );
  const files = createFileCatalog(database.db, createPostgresBlobStore(database.db));
  const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
  const workerId = `test-worker-${runId.slice(0, 8)}`;
  const control = createAttemptControl();
  const processor = createRunJobProcessor({
    store,
    sandbox,
    secrets: createSecretVault(database.db, store, [testSecretKey]),
    files,
    workerId,
    logger,
    control,
    tenantSlots: createTenantSlots({ redis, prefix, limit: options.tenantMaxRunning ?? 8 }),
  });
  const secrets = createSecretVault(database.db, store, [testSecretKey]);
  const notifier = await createAppendListener(database.url);
  const app = createApp({
    store,
    db: database.db,
    policy,
    verifyToken: testTokenVerifier,
    logger,
    secrets,
    notifier,
    files,
    ...(options.maxUploadBytes === undefined ? {} : { maxUploadBytes: options.maxUploadBytes }),
  });
  // The jobs read model behind GET /v1/jobs, as the API role runs it.
  const projection = await startProjectionRunner({
    db: database.db,
    connectionString: database.url,
    projection: jobsProjection,
    unreadable: createReportingUnreadableEventLog(database.db, logger),
    maxPollIntervalMs: 200,
  });

  const queue = createJobQueue({ connection: redis, prefix });
  let dispatcher: RunningSubscription | undefined;
  let lifecycle: RunningWorkerLifecycle | undefined;
  if (options.withWorkers ?? true) {
    dispatcher = await startDispatcher({
      db: database.db,
      connectionString: database.url,
      queue,
      logger,
      unreadable: createReportingUnreadableEventLog(database.db, logger),
    });
    lifecycle = await startWorkerLifecycle({
      workerId,
      store,
      docker,
      leases: createWorkerLeases(database.db),
      control,
      connectionString: database.url,
      logger,
      leaseMs: 5_000,
      shutdownGraceMs: options.shutdownGraceMs ?? 5_000,
      reaperLabels: [`${testRunLabel}=${runId}`],
      startWorker: () =>
        startExecutorWorker({
          connection: redis.duplicate(),
          prefix,
          concurrency: options.workerConcurrency ?? 4,
          process: processor,
        }),
    });
  }

  const leftoverContainers = async () => {
    const containers = await docker.listContainers({
      all: true,
      filters: { label: [`${testRunLabel}=${runId}`] },
    });
    return containers.map((container) => container.Id);
  };

  return {
    database,
    store,
    app,
    docker,
    runId,
    processor,
    files,
    queue,
    prefix,
    logs: () => logLines,
    token: (subject = 'test-user', options = {}) => mintToken({ secret: testSecret, subject, ...options }),
    leftoverContainers,
    stopWorker: async () => {
      await lifecycle?.stop();
      lifecycle = undefined;
    },
    async stop() {
      await lifecycle?.stop();
      await projection.stop();
      await dispatcher?.stop();
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      redis.disconnect();
      for (const id of await leftoverContainers())
        await docker
          .getContainer(id)
          .remove({ force: true })
          .catch(() => undefined);
      await notifier.close();
      await database.destroy();
    },
  };
}
