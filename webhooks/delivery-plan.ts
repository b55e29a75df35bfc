import { createHash } from 'node:crypto';
import type { EventStore, RecordedEvent } from '../events/event-store.ts';
import { jobStreamPrefix, loadJob, toJobEvent } from '../jobs/job-stream.ts';
import type { WebhookJobEventType } from '../schemas/webhook-events.schema.ts';
import type { WebhookSubscriptions } from './webhook-subscriptions.ts';

/** One delivery owed: a job event told to one target, with the exact body every attempt sends. */
export interface PlannedDelivery {
  readonly id: string;
  readonly tenant: string;
  readonly jobId: string;
  readonly eventType: WebhookJobEventType;
  readonly url: string;
  /** Absent: the job's own callback. */
  readonly subscriptionId?: string;
  readonly body: string;
}

/**
 * A delivery's id, the same however often the event is handled: a UUID (version 8, RFC 9562's
 * custom layout) of SHA-256 over the event id and the target. It is the `webhook-id` receivers dedupe on.
 */
export function deliveryId(eventId: string, target: string): string {
  const bytes = createHash('sha256').update(`${eventId}\u0000${target}`).digest().subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The job events that can end a job, and which end each one tells of: an abandoned attempt (its
 * worker lost) that no retry follows leaves the job failed, as a JobFailed would.
 */
export const endingEvents: Readonly<Record<string, WebhookJobEventType>> = {
  JobSucceeded: 'JobSucceeded',
  JobFailed: 'JobFailed',
  JobAttemptAbandoned: 'JobFailed',
  JobCancelled: 'JobCancelled',
  JobExpired: 'JobExpired',
};

const statusOf: Record<WebhookJobEventType, string> = {
  JobSucceeded: 'succeeded',
  JobFailed: 'failed',
  JobCancelled: 'cancelled',
  JobExpired: 'expired',
};

/** What the receiver is told: the job, how it ended; never its output (megabytes, maybe secret-bearing). */
function outcomeFields(event: RecordedEvent): Record<string, unknown> {
  const parsed = toJobEvent(event);
  switch (parsed.type) {
    case 'JobSucceeded':
      return {
        attempt: parsed.data.attempt,
        exitCode: parsed.data.exitCode,
        durationMs: parsed.data.durationMs,
      };
    case 'JobFailed':
      return {
        attempt: parsed.data.attempt,
        reason: parsed.data.reason,
        exitCode: parsed.data.exitCode,
        ...(parsed.data.message === undefined ? {} : { message: parsed.data.message }),
      };
    case 'JobCancelled':
      return {
        attempt: parsed.data.attempt,
        ...(parsed.data.reason === undefined ? {} : { reason: parsed.data.reason }),
      };
    case 'JobAttemptAbandoned':
      return {
        attempt: parsed.data.attempt,
        reason: 'abandoned',
        message: `the worker ${parsed.data.reason === 'shutdown' ? 'shut down' : 'was lost'} during the attempt`,
      };
    case 'JobExpired':
      return { attempt: parsed.data.attempt, expiresAt: parsed.data.expiresAt };
    default:
      return {};
  }
}

/**
 * The deliveries a job's ending event owes: the job's callback, and each of its tenant's
 * subscriptions to that end that existed when it was recorded. A failure followed (in the same
 * append) by a retry ends nothing, so it owes none; neither does any other event.
 */
export async function planDeliveries(
  event: RecordedEvent,
  deps: { readonly store: EventStore; readonly subscriptions: WebhookSubscriptions },
): Promise<readonly PlannedDelivery[]> {
  const told = endingEvents[event.type];
  if (told === undefined) return [];
  const jobId = event.streamId.slice(jobStreamPrefix.length);
  const { state, events } = await loadJob(deps.store, jobId);
  if (state.status === 'initial') return [];
  // The follower reads events without their output; the job's stream has them whole.
  const index = events.findIndex((recorded) => recorded.eventId === event.eventId);
  const stored = events[index] ?? event;
  if (told === 'JobFailed') {
    const next = events[index + 1];
    if (next?.type === 'JobRetryScheduled' && next.transactionId === event.transactionId) return [];
  }
  const body = JSON.stringify({
    type: told,
    timestamp: event.recordedAt.toISOString(),
    data: {
      jobId,
      status: statusOf[told],
      eventId: event.eventId,
      ...outcomeFields(stored),
      links: { job: `/v1/jobs/${jobId}`, events: `/v1/jobs/${jobId}/events` },
    },
  });
  const owed = (url: string, subscriptionId?: string): PlannedDelivery => ({
    id: deliveryId(event.eventId, subscriptionId ?? 'callback'),
    tenant: state.tenant,
    jobId,
    eventType: told,
    url,
    ...(subscriptionId === undefined ? {} : { subscriptionId }),
    body,
  });
  const subscribed = await deps.subscriptions.matching(state.tenant, told, event.recordedAt);
  return [
    ...(state.spec.callback ? [owed(state.spec.callback.url)] : []),
    ...subscribed.map((subscription) => owed(subscription.url, subscription.id)),
  ];
}
