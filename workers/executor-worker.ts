import { type Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { jobQueueName, type RunJobMessage } from './job-queue.ts';

export interface ExecutorWorkerOptions {
  /** Needs `maxRetriesPerRequest: null`: BullMQ's blocking commands must not time out. */
  readonly connection: Redis;
  readonly prefix: string;
  readonly concurrency: number;
  readonly process: (job: Job<RunJobMessage>) => Promise<unknown>;
}

/** A BullMQ worker consuming attempts; the processor does the real work. */
export function startExecutorWorker(options: ExecutorWorkerOptions): Worker<RunJobMessage> {
  return new Worker<RunJobMessage>(jobQueueName, options.process, {
    connection: options.connection,
    prefix: options.prefix,
    concurrency: options.concurrency,
    // A sandbox run can last minutes; the lock is renewed while it runs, so a stall means a dead worker.
    lockDuration: 30_000,
    maxStalledCount: 1,
  });
}
