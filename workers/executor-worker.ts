import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { type Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { contextFromTraceparent } from '../events/trace-context.ts';
import { jobQueueName, type RunJobMessage } from './job-queue.ts';

export interface ExecutorWorkerOptions {
  /** Needs `maxRetriesPerRequest: null`: BullMQ's blocking commands must not time out. */
  readonly connection: Redis;
  readonly prefix: string;
  readonly concurrency: number;
  /** `token` is the message's lock token, needed to move it back to delayed (tenant at its limit). */
  readonly process: (job: Job<RunJobMessage>, token?: string) => Promise<unknown>;
}

/** A BullMQ worker consuming attempts; the processor does the real work. */
export function startExecutorWorker(options: ExecutorWorkerOptions): Worker<RunJobMessage> {
  const tracer = trace.getTracer('omni-worker');
  // Each attempt continues the trace its message carries (HTTP request → append → dispatcher → here).
  const traced = (job: Job<RunJobMessage>, token?: string) =>
    context.with(contextFromTraceparent(job.data.traceparent), () =>
      tracer.startActiveSpan(
        'run attempt',
        {
          kind: SpanKind.CONSUMER,
          attributes: {
            'omni.job_id': job.data.jobId,
            'omni.attempt': job.data.attempt,
            'messaging.message.id': job.id ?? '',
          },
        },
        async (span) => {
          try {
            return await options.process(job, token);
          } catch (error) {
            span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
            throw error;
          } finally {
            span.end();
          }
        },
      ),
    );
  return new Worker<RunJobMessage>(jobQueueName, traced, {
    connection: options.connection,
    prefix: options.prefix,
    concurrency: options.concurrency,
    // A sandbox run can last minutes; the lock is renewed while it runs, so a stall means a dead worker.
    lockDuration: 30_000,
    maxStalledCount: 1,
  });
}
