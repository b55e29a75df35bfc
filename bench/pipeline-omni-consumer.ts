// omni's back half for the pipeline bench: the dispatcher follows the log into the queue and the
// worker runs each attempt with a sandbox that returns at once (the bench measures the pipeline, not
// Docker). The worker's processor is wired as `omni worker` wires it, but for the sandbox: it holds
// each attempt in its lease rows and takes a tenant slot in Redis (the limit raised to the slots, as
// an operator running one tenant that wide would). A job counts as completed when BullMQ has acked
// it, after its JobSucceeded is durable.
import type { Job } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createDatabase } from '../events/database.ts';
import { createEventStore } from '../events/event-store.ts';
import { startDispatcher } from '../workers/dispatcher.ts';
import { startExecutorWorker } from '../workers/executor-worker.ts';
import type { RunJobMessage } from '../workers/job-queue.ts';
import { createJobQueue } from '../workers/job-queue.ts';
import { createAttemptHoldings } from '../workers/lifecycle/attempt-holdings.ts';
import { createTenantSlots } from '../workers/lifecycle/tenant-slots.ts';
import { createWorkerLeases } from '../workers/lifecycle/worker-leases.ts';
import { createRunJobProcessor } from '../workers/run-job.processor.ts';
import type { Sandbox } from '../workers/sandbox/sandbox.ts';
import type { StartConsumer } from './pipeline-system.ts';
import { timedEventStore } from './timed-event-store.ts';

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

export const startConsumer: StartConsumer = async (task, onCompleted) => {
  const logger = pino({ level: 'silent' });
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
  const { store, waits } = timedEventStore(createEventStore(workerDb));
  const workerId = 'bench';
  const leases = createWorkerLeases(workerDb);
  // Holds are written only for a worker with a live lease row; nothing here judges it, so one
  // renewal outlasts the round.
  await leases.renew(workerId, 3_600_000);
  const processor = createRunJobProcessor({
    store,
    sandbox: noopSandbox,
    workerId,
    logger,
    holdings: createAttemptHoldings(leases, workerId),
    tenantSlots: createTenantSlots({ redis, prefix: task.prefix, limit: task.slots }),
  });
  // Per job: its message's time in the processor, and the part of it that held a run slot (the
  // read, the start and the run; recording the result holds none).
  let inHandMs = 0;
  let runSlotMs = 0;
  let processed = 0;
  const worker = startExecutorWorker({
    connection: redis.duplicate(),
    prefix: task.prefix,
    concurrency: task.slots,
    process: async (job: Job<RunJobMessage>, token?: string, runEnded?: () => void) => {
      const started = performance.now();
      let slotEnded: number | undefined;
      try {
        return await processor(job, token, () => {
          slotEnded ??= performance.now();
          runEnded?.();
        });
      } finally {
        const ended = performance.now();
        inHandMs += ended - started;
        runSlotMs += (slotEnded ?? ended) - started;
        processed += 1;
      }
    },
  });
  worker.on('completed', onCompleted);
  return {
    settled: async () => undefined,
    slot: () => ({
      ms: inHandMs / processed,
      runSlotMs: runSlotMs / processed,
      store: Object.fromEntries(
        Object.entries(waits).map(([method, wait]) => [
          method,
          { calls: wait.calls / processed, ms: wait.ms / processed },
        ]),
      ),
    }),
    async stop() {
      await worker.close();
      await dispatcher.stop();
      await queue.obliterate({ force: true });
      await queue.close();
      await leases.release(workerId);
      redis.disconnect();
      await Promise.all([dispatcherDb.destroy(), workerDb.destroy()]);
    },
  };
};
