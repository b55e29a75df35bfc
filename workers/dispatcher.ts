import { context, SpanKind, trace } from '@opentelemetry/api';
import type { Queue } from 'bullmq';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { createEventStore, type RecordedEvent } from '../events/event-store.ts';
import { type RunningSubscription, startSubscription } from '../events/subscription.ts';
import type { Database } from '../events/tables.ts';
import { contextFromTraceparent, currentTraceparent } from '../events/trace-context.ts';
import {
  createUnreadableEventLog,
  isDataError,
  type UnreadableEvent,
  type UnreadableEventLog,
  unreadableEvent,
} from '../events/unreadable-events.ts';
import { defaultJobTenant } from '../jobs/job.evolve.ts';
import { JobHistoryUnreadableError, unreadableEventOf } from '../jobs/job-history-unreadable-error.ts';
import { jobStreamPrefix, loadJob, toJobEvent } from '../jobs/job-stream.ts';
import type { JobEvent } from '../schemas/job-events.schema.ts';
import { attemptMessageId, type RunJobMessage } from './job-queue.ts';
import { attemptMessage } from './lifecycle/attempt-message.ts';

const dispatcherSubscriptionId = 'dispatcher';

/**
 * Records the hand-over to the queue as a span in the submitting request's trace and returns the
 * traceparent the worker continues from.
 */
function dispatchSpan(parent: unknown, jobId: string, attempt: number): string | undefined {
  const tracer = trace.getTracer('omni-dispatcher');
  return context.with(contextFromTraceparent(typeof parent === 'string' ? parent : undefined), () =>
    tracer.startActiveSpan(
      'dispatch attempt',
      { kind: SpanKind.PRODUCER, attributes: { 'omni.job_id': jobId, 'omni.attempt': attempt } },
      (span) => {
        const traceparent = currentTraceparent() ?? (typeof parent === 'string' ? parent : undefined);
        span.end();
        return traceparent;
      },
    ),
  );
}

export interface DispatcherDeps {
  readonly db: Kysely<Database>;
  readonly connectionString: string;
  readonly queue: Queue<RunJobMessage>;
  readonly logger: Logger;
  readonly subscriptionId?: string;
  /** See SubscriptionOptions.gatherMs; default 10 ms. */
  readonly gatherMs?: number;
  /** Where events it cannot read are reported; default: the table, the logger and the metric. */
  readonly unreadable?: UnreadableEventLog;
}

/** The event to blame when handling `event` failed on data: it, or the one of its stream that failed to fold. */
const blame = (event: RecordedEvent, error: unknown): UnreadableEvent =>
  error instanceof JobHistoryUnreadableError ? unreadableEventOf(error) : unreadableEvent(event, error);

/**
 * Follows the log from its checkpoint and enqueues one message per attempt to run. The checkpoint
 * moves only after Redis accepted the batch, and message ids are deterministic, so a crash between
 * the two re-adds nothing new.
 */
export async function startDispatcher(deps: DispatcherDeps): Promise<RunningSubscription> {
  const store = createEventStore(deps.db);
  const unreadable = deps.unreadable ?? createUnreadableEventLog({ db: deps.db, logger: deps.logger });
  const reader = deps.subscriptionId ?? dispatcherSubscriptionId;
  return startSubscription({
    db: deps.db,
    connectionString: deps.connectionString,
    subscriptionId: reader,
    // Any number of dispatchers may run; one is active, the rest take over when it dies.
    exclusive: true,
    // Only job streams matter here; the rest of the log is skipped in SQL.
    filter: { streamPrefix: jobStreamPrefix },
    // A job waits at most this much longer to be queued; a busy log costs a read and a checkpoint
    // write per 10 ms instead of one per commit.
    gatherMs: deps.gatherMs ?? 10,
    onOwnership: () => deps.logger.info('this dispatcher is now the active one'),
    onError: (error) => deps.logger.error({ err: error }, 'dispatcher read failed; retrying'),
    handle: async (events) => {
      const now = Date.now();
      const messages: ReturnType<typeof attemptMessage>[] = [];
      const withdrawn: string[] = [];
      const skipped: UnreadableEvent[] = [];
      for (const event of events) {
        if (!event.streamId.startsWith(jobStreamPrefix)) continue;
        try {
          const jobId = event.streamId.slice(jobStreamPrefix.length);
          if (event.type === 'JobSubmitted') {
            const { data } = toJobEvent(event) as Extract<JobEvent, { type: 'JobSubmitted' }>;
            const traceparent = dispatchSpan(event.metadata.traceparent, jobId, 1);
            const tenant =
              typeof event.metadata.tenant === 'string' ? event.metadata.tenant : defaultJobTenant;
            messages.push(
              attemptMessage(
                {
                  jobId,
                  attempt: 1,
                  tenant,
                  ...(data.spec.priority === undefined ? {} : { priority: data.spec.priority }),
                  ...(data.runAt === undefined ? {} : { dueAt: new Date(data.runAt) }),
                  ...(traceparent === undefined ? {} : { traceparent }),
                  queued: {
                    version: event.streamVersion,
                    image: data.spec.image,
                    causationId: event.eventId,
                    ...(data.runAt === undefined ? {} : { dueAtMs: Date.parse(data.runAt) }),
                    ...(data.expiresAt === undefined ? {} : { expiresAtMs: Date.parse(data.expiresAt) }),
                  },
                },
                now,
              ),
            );
          } else if (event.type === 'JobRetryScheduled') {
            // Priority and tenant live on the job, not on the retry: read it (retries are the rare case).
            const { data } = toJobEvent(event) as Extract<JobEvent, { type: 'JobRetryScheduled' }>;
            const { state, version, events: history } = await loadJob(store, jobId);
            if (state.status === 'initial') continue;
            const submitted = history[0];
            const traceparent = dispatchSpan(event.metadata.traceparent, jobId, data.attempt);
            messages.push(
              attemptMessage(
                {
                  jobId,
                  attempt: data.attempt,
                  tenant: state.tenant,
                  ...(state.spec.priority === undefined ? {} : { priority: state.spec.priority }),
                  dueAt: new Date(data.dueAt),
                  ...(traceparent === undefined ? {} : { traceparent }),
                  // Only while the retry is the stream's newest event: otherwise a start at its
                  // version would be refused anyway.
                  ...(version === event.streamVersion && state.status === 'queued' && submitted
                    ? {
                        queued: {
                          version,
                          image: state.spec.image,
                          causationId: submitted.eventId,
                          dueAtMs: Date.parse(data.dueAt),
                          ...(data.expiresAt === undefined
                            ? {}
                            : { expiresAtMs: Date.parse(data.expiresAt) }),
                        },
                      }
                    : {}),
                },
                now,
              ),
            );
          } else if (event.type === 'JobCancelled') {
            const data = event.data as { attempt?: number; wasRunning?: boolean };
            if (data.wasRunning === false && typeof data.attempt === 'number')
              withdrawn.push(attemptMessageId(jobId, data.attempt));
          }
        } catch (error) {
          // An event its schema refuses (written by hand) is stepped over and reported: left in, it
          // would fail every read from here on and no later job of any tenant would be dispatched.
          if (!isDataError(error)) throw error;
          skipped.push(blame(event, error));
        }
      }
      await unreadable.report(reader, skipped);
      if (messages.length > 0) {
        await deps.queue.addBulk(messages);
        deps.logger.debug({ count: messages.length }, 'dispatched attempts');
      }
      // A cancelled job's waiting (or delayed) message is withdrawn; a worker would drop it anyway.
      for (const id of withdrawn) await deps.queue.remove(id).catch(() => undefined);
    },
  });
}
