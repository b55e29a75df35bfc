// The pipeline bench's back half in a thread of its own, as the dispatcher and worker roles run in
// processes of their own beside the API: the dispatcher follows the log into the queue, the worker
// runs each attempt with a sandbox that returns at once (the bench measures the pipeline, not Docker).
import { parentPort, workerData } from 'node:worker_threads';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createDatabase } from '../events/database.ts';
import { createEventStore } from '../events/event-store.ts';
import { startDispatcher } from '../workers/dispatcher.ts';
import { startExecutorWorker } from '../workers/executor-worker.ts';
import { createJobQueue } from '../workers/job-queue.ts';
import { createRunJobProcessor } from '../workers/run-job.processor.ts';
import type { Sandbox } from '../workers/sandbox/sandbox.ts';
import { threadCpuMs } from './process-cpu.ts';

export interface PipelineWorkersTask {
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly prefix: string;
  readonly concurrency: number;
}

const task = workerData as PipelineWorkersTask;
const logger = pino({ level: 'silent' });

const noopSandbox: Sandbox = {
  prepare: async () => ({ imageId: 'sha256:noop' }),
  run: async () => {
    const now = new Date();
    return {
      reason: 'exited',
      exitCode: 0,
      stdout: '',
      stderr: '',
      outputTruncated: false,
      startedAt: now,
      finishedAt: now,
      durationMs: 0,
      imageId: 'sha256:noop',
    };
  },
};

const redis = new Redis(task.redisUrl, { maxRetriesPerRequest: null });
const queue = createJobQueue({ connection: redis, prefix: task.prefix });
// Each role its own pool, as each process has.
const dispatcherDb = createDatabase({
  connectionString: task.databaseUrl,
  applicationName: 'bench-dispatcher',
});
const workerDb = createDatabase({ connectionString: task.databaseUrl, applicationName: 'bench-worker' });
const dispatcher = await startDispatcher({
  db: dispatcherDb,
  connectionString: task.databaseUrl,
  queue,
  logger,
});
const worker = startExecutorWorker({
  connection: redis.duplicate(),
  prefix: task.prefix,
  concurrency: task.concurrency,
  process: createRunJobProcessor({
    store: createEventStore(workerDb),
    sandbox: noopSandbox,
    workerId: 'bench',
    logger,
  }),
});
/** What the main thread may ask: this thread's CPU so far, or to stop. */
export type PipelineWorkersRequest = 'cpu' | 'stop';

parentPort?.postMessage('ready');
parentPort?.on('message', async (request: PipelineWorkersRequest) => {
  if (request === 'cpu') {
    parentPort?.postMessage({ cpuMs: threadCpuMs() });
    return;
  }
  await worker.close();
  await dispatcher.stop();
  await queue.close();
  redis.disconnect();
  await Promise.all([dispatcherDb.destroy(), workerDb.destroy()]);
  parentPort?.postMessage('stopped');
});
