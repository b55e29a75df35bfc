import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { createEventStore, type RecordedEvent } from '../events/event-store.ts';
import { startSubscription } from '../events/subscription.ts';
import type { Database } from '../events/tables.ts';
import {
  createUnreadableEventLog,
  isDataError,
  type UnreadableEvent,
  type UnreadableEventLog,
  unreadableEvent,
} from '../events/unreadable-events.ts';
import { JobHistoryUnreadableError, unreadableEventOf } from '../jobs/job-history-unreadable-error.ts';
import { jobStreamPrefix } from '../jobs/job-stream.ts';
import { eventReadSchemas } from '../schemas/event-read-schemas.ts';
import { type DeliveryBackoff, defaultDeliveryBackoff } from './delivery-backoff.ts';
import { endingEvents, planDeliveries } from './delivery-plan.ts';
import { createDeliveryQueue } from './delivery-queue.ts';
import { startDeliverySender } from './delivery-sender.ts';
import type { Resolve } from './pinned-target.ts';
import type { AttemptOutcome } from './post-webhook.ts';
import type { SigningKeys } from './signing-keys.ts';
import { createWebhookSubscriptions } from './webhook-subscriptions.ts';

export interface WebhookDeliveryDeps {
  readonly db: Kysely<Database>;
  /** A direct connection for LISTEN and the follower's ownership lock (see SubscriptionOptions). */
  readonly connectionString: string;
  readonly signing: SigningKeys;
  readonly logger: Logger;
  /** WEBHOOK_ALLOW_PRIVATE: loopback and private addresses may be delivered to. */
  readonly allowPrivate: boolean;
  /** WEBHOOK_TIMEOUT_MS: one attempt, connect to last byte read. */
  readonly timeoutMs: number;
  /** WEBHOOK_RETRY_FOR_MS: how long a failing delivery is retried. */
  readonly retryForMs: number;
  /** WEBHOOK_RETENTION_MS: how long a finished delivery's row is kept; default 7 days. */
  readonly retentionMs?: number;
  /** How often the active follower removes rows past their retention; default every 10 minutes. */
  readonly pruneEveryMs?: number;
  readonly backoff?: DeliveryBackoff;
  /** Deliveries in flight at once in this process; default 16. */
  readonly concurrency?: number;
  /** Deliveries one tenant may have in flight at once, across all processes; default 4. */
  readonly perTenant?: number;
  /** Longest wait between looks at the work list; default 1 s (new deliveries wake it at once). */
  readonly pollMs?: number;
  /** The checkpoint row of the log follower; default `webhooks`. */
  readonly subscriptionId?: string;
  readonly unreadable?: UnreadableEventLog;
  readonly resolve?: Resolve;
  /** Told of every attempt made (for metrics). */
  readonly onAttempt?: (outcome: AttemptOutcome) => void;
}

export interface RunningWebhookDelivery {
  /** Whether this process's follower is the active one (the sender runs in every process). */
  isOwner(): boolean;
  stop(): Promise<void>;
}

const defaultRetentionMs = 7 * 24 * 3600_000;
/** Rows one prune statement removes at most. */
const pruneChunk = 1_000;

/** The event to blame when planning failed on data: it, or the one of its job's stream that failed to fold. */
const blame = (event: RecordedEvent, error: unknown): UnreadableEvent =>
  error instanceof JobHistoryUnreadableError ? unreadableEventOf(error) : unreadableEvent(event, error);

/**
 * The webhooks role's work: a follower of the log (one active across processes, checkpointed)
 * turns each terminal job event into the deliveries it owes, written to the work list before the
 * checkpoint moves past it; senders in every process attempt them. A crash anywhere repeats work,
 * never loses it: an event handled again owes the same ids, a lapsed lease is taken again.
 */
export async function startWebhookDelivery(deps: WebhookDeliveryDeps): Promise<RunningWebhookDelivery> {
  const store = createEventStore(deps.db, { schemas: eventReadSchemas });
  const subscriptions = createWebhookSubscriptions(deps.db, deps.signing);
  const queue = createDeliveryQueue(deps.db);
  const reader = deps.subscriptionId ?? 'webhooks';
  const unreadable = deps.unreadable ?? createUnreadableEventLog({ db: deps.db, logger: deps.logger });
  const sender = startDeliverySender({
    queue,
    subscriptions,
    signing: deps.signing,
    logger: deps.logger,
    allowPrivate: deps.allowPrivate,
    timeoutMs: deps.timeoutMs,
    backoff: deps.backoff ?? defaultDeliveryBackoff,
    concurrency: deps.concurrency ?? 16,
    perTenant: deps.perTenant ?? 4,
    pollMs: deps.pollMs ?? 1_000,
    ...(deps.resolve ? { resolve: deps.resolve } : {}),
    ...(deps.onAttempt ? { onAttempt: deps.onAttempt } : {}),
  });
  const follower = await startSubscription({
    db: deps.db,
    connectionString: deps.connectionString,
    subscriptionId: reader,
    exclusive: true,
    // Only jobs' ends matter; output, deliveries and the rest of the log are skipped in SQL.
    filter: {
      streamPrefix: jobStreamPrefix,
      types: Object.keys(endingEvents),
      omitDataKeys: ['stdout', 'stderr'],
    },
    onOwnership: () => deps.logger.info('this webhooks follower is now the active one'),
    onError: (error) => deps.logger.error({ err: error }, 'webhooks follower read failed; retrying'),
    handle: async (events) => {
      const skipped: UnreadableEvent[] = [];
      for (const event of events) {
        try {
          await queue.owe(await planDeliveries(event, { store, subscriptions }), deps.retryForMs);
        } catch (error) {
          // An event its schema refuses (written by hand) is stepped over and reported, as the
          // dispatcher does: left in, it would stop every later delivery of every tenant.
          if (!isDataError(error)) throw error;
          skipped.push(blame(event, error));
        }
      }
      await unreadable.report(reader, skipped);
      sender.wake();
    },
  });
  // One process (the active follower's) removes finished deliveries past their retention.
  const retentionMs = deps.retentionMs ?? defaultRetentionMs;
  const prune = async () => {
    if (!follower.isOwner()) return;
    let removed = 0;
    for (;;) {
      const chunk = await queue.prune(retentionMs, pruneChunk);
      removed += chunk;
      if (chunk < pruneChunk) break;
    }
    if (removed > 0)
      deps.logger.info({ removed }, 'removed finished webhook deliveries past their retention');
  };
  const pruning = setInterval(
    () =>
      void prune().catch((error: unknown) =>
        deps.logger.warn(
          { err: error },
          'could not remove old webhook deliveries; the next round tries again',
        ),
      ),
    deps.pruneEveryMs ?? 10 * 60_000,
  );
  pruning.unref();
  return {
    isOwner: () => follower.isOwner(),
    async stop() {
      clearInterval(pruning);
      await follower.stop();
      await sender.stop();
    },
  };
}
