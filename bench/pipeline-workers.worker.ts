// The pipeline bench's consumer side in a thread of its own, as a system's workers run in processes of
// their own beside its API or producers: omni's dispatcher and worker (with a sandbox that returns at
// once), pg-boss's or Graphile Worker's workers with a no-op handler, or a raw BullMQ worker. The
// consumer starts and stops around each round; the thread, and its warmed-up code, stays.
import { parentPort, workerData } from 'node:worker_threads';
import type { Consumer, ConsumerKind, ConsumerTask, SlotTime, StartConsumer } from './pipeline-system.ts';
import { threadCpuMs } from './process-cpu.ts';

/** What the main thread may ask. */
export type ConsumerRequest =
  | { readonly type: 'start' }
  | { readonly type: 'cpu' }
  /** Answer `reached` once `total` jobs since the last `start` are completed. */
  | { readonly type: 'await'; readonly total: number }
  /** Stop the consumer, closing its connections (the thread stays, with its warm code). */
  | { readonly type: 'stop' };

export type ConsumerReply =
  | { readonly type: 'started' }
  | { readonly type: 'cpu'; readonly cpuMs: number }
  | { readonly type: 'reached'; readonly slot?: SlotTime }
  | { readonly type: 'stopped' };

const modules: Record<ConsumerKind, string> = {
  omni: './pipeline-omni-consumer.ts',
  'pg-boss': './pipeline-pg-boss.ts',
  'graphile-worker': './pipeline-graphile-worker.ts',
  bullmq: './pipeline-bullmq.ts',
};

const task = workerData as ConsumerTask;
const reply = (message: ConsumerReply) => parentPort?.postMessage(message);

let completed = 0;
let waiting: { total: number; resolve: () => void } | undefined;
const onCompleted = () => {
  completed += 1;
  if (waiting && completed >= waiting.total) {
    waiting.resolve();
    waiting = undefined;
  }
};
const { startConsumer } = (await import(modules[task.kind])) as { startConsumer: StartConsumer };
let consumer: Consumer | undefined;

parentPort?.on('message', async (request: ConsumerRequest) => {
  if (request.type === 'start') {
    completed = 0;
    consumer = await startConsumer(task, onCompleted);
    reply({ type: 'started' });
  } else if (request.type === 'cpu') {
    reply({ type: 'cpu', cpuMs: threadCpuMs() });
  } else if (request.type === 'await') {
    if (completed < request.total) {
      await new Promise<void>((resolve) => {
        waiting = { total: request.total, resolve };
      });
    }
    await consumer?.settled(request.total);
    const slot = consumer?.slot?.();
    reply({ type: 'reached', ...(slot === undefined ? {} : { slot }) });
  } else {
    await consumer?.stop();
    consumer = undefined;
    reply({ type: 'stopped' });
  }
});
