import { Queue, type QueueOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';

export const jobQueueName = 'jobs';

/** What travels through Redis: only references; the job itself is read from the event log. */
export const runJobMessageSchema = z.object({
  jobId: z.uuid(),
  attempt: z.number().int().positive(),
  traceparent: z.string().optional(),
  // The owning tenant, so a worker can check its running limit before reading the job.
  tenant: z.string(),
  // What the log said when the dispatcher queued this attempt. A worker appends JobStarted at that
  // version without reading the stream first; the version check keeps the log the judge (any event
  // since, a cancel or a duplicate start, refuses it, and the worker then reads and decides as
  // before). Absent (a message the reconciler re-derived): the worker reads first.
  queued: z
    .object({
      version: z.number().int().positive(),
      image: z.string(),
      // The JobSubmitted event's id: what the worker's events name as their cause.
      causationId: z.string(),
      dueAtMs: z.number().optional(),
      expiresAtMs: z.number().optional(),
    })
    .optional(),
});
export type RunJobMessage = z.infer<typeof runJobMessageSchema>;

/**
 * The BullMQ job id of one attempt. Deterministic, so re-adding it (a dispatcher replaying after a
 * crash) is a no-op while the earlier one is still kept. BullMQ forbids ':' in custom ids.
 */
export const attemptMessageId = (jobId: string, attempt: number): string => `${jobId}-${attempt}`;

/** How long finished messages stay in Redis: the window in which a re-add is recognised as a duplicate. */
const keepFinishedMessagesSeconds = 7 * 24 * 3600;

export interface JobQueueOptions {
  readonly connection: Redis;
  readonly prefix: string;
}

export function createJobQueue(options: JobQueueOptions): Queue<RunJobMessage> {
  const queueOptions: QueueOptions = {
    connection: options.connection,
    prefix: options.prefix,
    defaultJobOptions: {
      removeOnComplete: { age: keepFinishedMessagesSeconds },
      removeOnFail: { age: keepFinishedMessagesSeconds },
    },
  };
  return new Queue<RunJobMessage>(jobQueueName, queueOptions);
}
