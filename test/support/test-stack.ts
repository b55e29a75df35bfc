import { randomUUID } from 'node:crypto';
import Docker from 'dockerode';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createEventStore, type EventStore } from '../../events/event-store.ts';
import type { RunningSubscription } from '../../events/subscription.ts';
import { createApp } from '../../services/api/app.ts';
import { createTokenVerifier } from '../../services/api/token-verifier.ts';
import { mintToken } from '../../services/dev-token.ts';
import { createSecretVault } from '../../services/secrets/secret-vault.ts';
import { startDispatcher } from '../../workers/dispatcher.ts';
import { startExecutorWorker } from '../../workers/executor-worker.ts';
import { createJobQueue } from '../../workers/job-queue.ts';
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
  /** Every log line the stack's roles wrote so far. */
  logs(): readonly string[];
  token(subject?: string, options?: { tenant?: string; scopes?: readonly string[] }): Promise<string>;
  /** Containers this file started that still exist. */
  leftoverContainers(): Promise<readonly string[]>;
  stop(): Promise<void>;
}

/**
 * The whole product in one process, isolated for one test file: its own database, its own BullMQ
 * prefix, and a label on every container it starts.
 */
export async function startTestStack(label: string, options: { withWorkers?: boolean } = {}): Promise<TestStack> {
  const runId = randomUUID();
  const database = await createTestDatabase(label);
  const store = createEventStore(database.db);
  // Every log line is kept, so tests can assert what never reaches the logs (tokens, secrets).
  const logLines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  const prefix = `test-${runId}`;
  const sandbox = createDockerSandbox({ docker, policy: testPolicy, extraLabels: { [testRunLabel]: runId } });
  const processor = createRunJobProcessor({ store, sandbox, secrets: createSecretVault(database.db, store, [testSecretKey]), workerId: `test-worker-${runId.slice(0, 8)}`, logger });
  const secrets = createSecretVault(database.db, store, [testSecretKey]);
  const app = createApp({ store, policy: testPolicy, verifyToken: testTokenVerifier, logger, secrets });

  const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
  const queue = createJobQueue({ connection: redis, prefix });
  let dispatcher: RunningSubscription | undefined;
  let worker: ReturnType<typeof startExecutorWorker> | undefined;
  if (options.withWorkers ?? true) {
    dispatcher = await startDispatcher({ db: database.db, connectionString: database.url, queue, logger });
    worker = startExecutorWorker({ connection: redis.duplicate(), prefix, concurrency: 4, process: processor });
  }

  const leftoverContainers = async () => {
    const containers = await docker.listContainers({ all: true, filters: { label: [`${testRunLabel}=${runId}`] } });
    return containers.map((container) => container.Id);
  };

  return {
    database,
    store,
    app,
    docker,
    runId,
    processor,
    logs: () => logLines,
    token: (subject = 'test-user', options = {}) => mintToken({ secret: testSecret, subject, ...options }),
    leftoverContainers,
    async stop() {
      await worker?.close();
      await dispatcher?.stop();
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      redis.disconnect();
      for (const id of await leftoverContainers()) await docker.getContainer(id).remove({ force: true }).catch(() => undefined);
      await database.destroy();
    },
  };
}
