import type { JobsOptions } from 'bullmq';
import { attemptMessageId, type RunJobMessage } from '../job-queue.ts';

/** The default job priority (0..100, higher first). */
const defaultJobPriority = 50;

export interface AttemptToQueue {
  readonly jobId: string;
  readonly attempt: number;
  readonly tenant: string;
  readonly priority?: number;
  /** Not before; absent or past: now. */
  readonly dueAt?: Date;
  readonly traceparent?: string;
  /** See RunJobMessage.queued. */
  readonly queued?: RunJobMessage['queued'];
}

/**
 * The BullMQ message of one attempt. BullMQ runs lower numbers first and runs unprioritised jobs
 * before all prioritised ones, so every message gets a priority (1..101) mapped from ours.
 */
export function attemptMessage(
  item: AttemptToQueue,
  now: number,
): { name: 'run'; data: RunJobMessage; opts: JobsOptions } {
  const delay = item.dueAt ? Math.max(0, item.dueAt.getTime() - now) : 0;
  return {
    name: 'run',
    data: {
      jobId: item.jobId,
      attempt: item.attempt,
      tenant: item.tenant,
      ...(item.traceparent === undefined ? {} : { traceparent: item.traceparent }),
      ...(item.queued === undefined ? {} : { queued: item.queued }),
    },
    opts: {
      jobId: attemptMessageId(item.jobId, item.attempt),
      priority: 101 - Math.min(100, Math.max(0, item.priority ?? defaultJobPriority)),
      ...(delay > 0 ? { delay } : {}),
    },
  };
}
