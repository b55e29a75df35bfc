import type { Queue } from 'bullmq';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { startSubscription, type RunningSubscription } from '../events/subscription.ts';
import type { Database } from '../events/tables.ts';
import { jobStreamPrefix } from '../events/job/job-stream.ts';
import { attemptMessageId, type RunJobMessage } from './job-queue.ts';

export const dispatcherSubscriptionId = 'dispatcher';

export interface DispatcherDeps {
  readonly db: Kysely<Database>;
  readonly connectionString: string;
  readonly queue: Queue<RunJobMessage>;
  readonly logger: Logger;
  readonly subscriptionId?: string;
}

/**
 * Follows the log from its checkpoint and enqueues one message per attempt to run. The checkpoint
 * moves only after Redis accepted the batch, and message ids are deterministic, so a crash between
 * the two re-adds nothing new.
 */
export async function startDispatcher(deps: DispatcherDeps): Promise<RunningSubscription> {
  return startSubscription({
    db: deps.db,
    connectionString: deps.connectionString,
    subscriptionId: deps.subscriptionId ?? dispatcherSubscriptionId,
    onError: (error) => deps.logger.error({ err: error }, 'dispatcher read failed; retrying'),
    handle: async (events) => {
      const messages = events
        .filter((event) => event.type === 'JobSubmitted' && event.streamId.startsWith(jobStreamPrefix))
        .map((event) => {
          const jobId = event.streamId.slice(jobStreamPrefix.length);
          const traceparent = event.metadata.traceparent;
          const data: RunJobMessage = { jobId, attempt: 1, ...(typeof traceparent === 'string' ? { traceparent } : {}) };
          return { name: 'run', data, opts: { jobId: attemptMessageId(jobId, 1) } };
        });
      if (messages.length > 0) {
        await deps.queue.addBulk(messages);
        deps.logger.debug({ count: messages.length }, 'dispatched attempts');
      }
    },
  });
}
