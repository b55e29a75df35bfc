// Graphile Worker in the pipeline bench: 32 producers `addJob`, a runner with `concurrency` slots runs
// a no-op task, and a job is done at its `job:complete` (the result written back). Its defaults
// otherwise (no local queue, no batched completions): LISTEN/NOTIFY wake-ups, and a worker that just
// finished a job asks for the next at once.
import { Logger, makeWorkerUtils, run } from 'graphile-worker';
import { fromProducers, type Producer, type StartConsumer } from './pipeline-system.ts';

const task = 'noop';

/** Errors only: the bench's output is its figures. */
const logger = new Logger(() => (level, message) => {
  if (level === 'error') console.error(`graphile-worker: ${message}`);
});

/** Installs Graphile Worker's schema in a fresh database. */
export async function installGraphileWorker(databaseUrl: string): Promise<void> {
  const utils = await makeWorkerUtils({ connectionString: databaseUrl, logger });
  await utils.migrate();
  await utils.release();
}

export async function startGraphileWorkerProducer(databaseUrl: string): Promise<Producer> {
  const utils = await makeWorkerUtils({ connectionString: databaseUrl, logger });
  return {
    async submit(count) {
      await fromProducers(count, (index) => utils.addJob(task, { index }));
      return { loadGeneratorCpuMs: 0 };
    },
    stop: async () => {
      await utils.release();
    },
  };
}

export const startConsumer: StartConsumer = async (consumerTask, onCompleted) => {
  const runner = await run({
    connectionString: consumerTask.databaseUrl,
    concurrency: consumerTask.slots,
    // Its default pool is 10 connections; each slot takes one to fetch and to complete.
    maxPoolSize: Math.max(10, consumerTask.slots + 2),
    noHandleSignals: true,
    logger,
    taskList: { [task]: async () => undefined },
  });
  runner.events.on('job:complete', ({ error }) => {
    if (error === undefined || error === null) onCompleted();
  });
  return {
    settled: async () => undefined,
    stop: () => runner.stop(),
  };
};
