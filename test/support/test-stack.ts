import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import Docker from 'dockerode';
import { Redis } from 'ioredis';
import type { EventStore } from '../../events/event-store.ts';
import type { FileCatalog } from '../../files/file-catalog.ts';
import type { FileLimits, SandboxPolicy } from '../../schemas/config.schema.ts';
import type { createApp } from '../../services/api/app.ts';
import { createTokenVerifier } from '../../services/api/token-verifier.ts';
import { loadConfig } from '../../services/config.ts';
import { mintToken } from '../../services/dev-token.ts';
import { createLogger } from '../../services/logger.ts';
import {
  composeApi,
  composeWorker,
  type RoleDeps,
  type RunningRole,
  startDispatcherRole,
} from '../../services/roles.ts';
import { createJobQueue, type RunJobMessage } from '../../workers/job-queue.ts';
import type { RunJobProcessor } from '../../workers/run-job.processor.ts';
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
  readonly processor: RunJobProcessor;
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
  /** Images allowed besides the test image (one the engine lacks, say). */
  readonly extraAllowedImages?: readonly string[];
  /** Containers the worker keeps started ahead per profile (default 0: every attempt runs cold). */
  readonly warmPoolSize?: number;
  /** The OCI runtime jobs run under (default: the engine's own, runc). */
  readonly runtime?: string;
}

// Far above what any test sends: a test about something else must never meet a 429.
const unlimited = String(1_000_000);

/**
 * The whole product in one process, wired by the same role functions `omni all` runs (so a test
 * exercises the composition that ships, reconciler included), isolated for one test file: its own
 * database, its own BullMQ prefix and a label on every container it starts. Only the sandbox policy
 * is the tests' own: small limits, so hostile jobs hit them quickly.
 */
export async function startTestStack(label: string, options: TestStackOptions = {}): Promise<TestStack> {
  const runId = randomUUID();
  const database = await createTestDatabase(label);
  const prefix = `test-${runId}`;
  const loaded = loadConfig({
    DATABASE_URL: database.url,
    REDIS_URL: 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: prefix,
    JWT_SECRET: testSecret,
    RATE_LIMIT_PER_SUBJECT: unlimited,
    RATE_LIMIT_PER_TENANT: unlimited,
    RATE_LIMIT_PER_ADDRESS_UNAUTHENTICATED: unlimited,
    TENANT_MAX_RUNNING: String(options.tenantMaxRunning ?? 8),
    WORKER_CONCURRENCY: String(options.workerConcurrency ?? 4),
    WORKER_SHUTDOWN_GRACE_MS: String(options.shutdownGraceMs ?? 5_000),
    WORKER_LEASE_MS: '5000',
  });
  const sandbox: SandboxPolicy = {
    ...testPolicy,
    allowedImages: [...testPolicy.allowedImages, ...(options.extraAllowedImages ?? [])],
    ...(options.fileLimits ? { files: options.fileLimits } : {}),
    ...(options.warmPoolSize === undefined ? {} : { warmPoolSize: options.warmPoolSize }),
    ...(options.runtime === undefined ? {} : { runtime: options.runtime }),
  };
  const config = {
    ...loaded,
    sandbox,
    secretKeys: [testSecretKey],
    // In bytes: a test may ask for a cap below the mebibyte FILES_MAX_UPLOAD_MB counts in.
    files: { ...loaded.files, maxUploadBytes: options.maxUploadBytes ?? loaded.files.maxUploadBytes },
  };
  // Every log line is kept, so tests can assert what never reaches the logs (tokens, secrets).
  const logLines: string[] = [];
  const logger = createLogger('debug', {}, { write: (line: string) => void logLines.push(line) });
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  // One connection for every role, closed by the stack (BullMQ duplicates what it blocks on).
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  const deps: RoleDeps = {
    config,
    db: database.db,
    docker,
    logger,
    jwtSecret: testSecret,
    redis,
    containerLabels: { [testRunLabel]: runId },
  };
  const api = await composeApi(deps);
  const worker = composeWorker(deps);
  const queue = createJobQueue({ connection: redis, prefix });
  let dispatcher: RunningRole | undefined;
  let runningWorker: RunningRole | undefined;
  if (options.withWorkers ?? true) {
    dispatcher = await startDispatcherRole(deps);
    runningWorker = await worker.start();
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
    store: api.store,
    app: api.app,
    docker,
    runId,
    processor: worker.process,
    files: api.files,
    queue,
    prefix,
    logs: () => logLines,
    token: (subject = 'test-user', tokenOptions = {}) =>
      mintToken({ secret: testSecret, subject, ...tokenOptions }),
    leftoverContainers,
    stopWorker: async () => {
      await runningWorker?.stop();
      runningWorker = undefined;
    },
    async stop() {
      await runningWorker?.stop();
      await dispatcher?.stop();
      await api.stop();
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      redis.disconnect();
      for (const id of await leftoverContainers())
        await docker
          .getContainer(id)
          .remove({ force: true })
          .catch(() => undefined);
      await database.destroy();
    },
  };
}
