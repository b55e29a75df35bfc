// Raw BullMQ in the pipeline bench: 32 producers `add`, a Worker with `concurrency` slots runs a no-op
// processor. Nothing is durable beyond Redis and nothing is kept as history: the floor of the queue
// omni's pipeline runs through.
import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { fromProducers, type Producer, type StartConsumer } from './pipeline-system.ts';

const queueName = 'jobs';

export function startBullmqProducer(redisUrl: string, prefix: string): Producer {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(queueName, { connection, prefix });
  // Each message with an id of its own, as omni's dispatcher gives each attempt (ids cost BullMQ a check).
  const run = randomUUID().slice(0, 8);
  return {
    async submit(count) {
      await fromProducers(count, (index) => queue.add('run', { index }, { jobId: `${run}-${index}` }));
      return { loadGeneratorCpuMs: 0 };
    },
    async stop() {
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
    },
  };
}

export const startConsumer: StartConsumer = async (task, onCompleted) => {
  const worker = new Worker(queueName, async () => 'ok', {
    connection: new Redis(task.redisUrl, { maxRetriesPerRequest: null }),
    prefix: task.prefix,
    concurrency: task.slots,
  });
  worker.on('completed', onCompleted);
  await worker.waitUntilReady();
  return {
    settled: async () => undefined,
    stop: () => worker.close(),
  };
};
