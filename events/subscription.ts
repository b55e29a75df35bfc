import type { Kysely } from 'kysely';
import { advanceCheckpoint, loadCheckpoint } from './checkpoints.ts';
import {
  createEventStore,
  type EventStoreOptions,
  type LogPosition,
  type ReadAllOptions,
  type RecordedEvent,
} from './event-store.ts';
import { createOwnedSession } from './owned-session.ts';
import type { Database } from './tables.ts';
import { createWakeableSleep } from './wakeable-sleep.ts';

/** The loop's tunables when a caller leaves them out; every reader of the log shares them. */
export const subscriptionDefaults = {
  /**
   * Events per read. A backlog is caught up in few round trips (one read, one checkpoint write or
   * projection transaction per batch), while one batch stays short: that much is handled again
   * after a crash (at-least-once), and that long a projection holds its table's lock.
   */
  batchSize: 500,
  /** Gathering is opt-in: without it a reader wakes on every commit, the lowest latency. */
  gatherMs: 0,
  /**
   * First sleep after an empty read; it doubles up to `maxPollIntervalMs`. Short, because a
   * notification that raced the read is missed and only this wait catches the commit.
   */
  firstPollIntervalMs: 25,
  /**
   * Longest sleep between reads without a notification, and the backoff after a failed read: a
   * lost LISTEN session or a database outage delays a reader by at most this.
   */
  maxPollIntervalMs: 1000,
  /** A standby notices within this long that the owner's session ended and takes over. */
  ownershipRetryMs: 1000,
} as const;

/**
 * Handles a batch and moves the checkpoint from `from` to `to` in one transaction (exactly-once in
 * effect); resolves false, having changed nothing, when the checkpoint was no longer at `from`.
 */
export type TransactionalBatchHandler = (
  events: readonly RecordedEvent[],
  from: LogPosition,
  to: LogPosition,
) => Promise<boolean>;

/** What the loop hands each batch to: exactly one of the two. */
export type BatchDelivery =
  | {
      /** At-least-once: the checkpoint moves past the batch only when this resolves. */
      readonly handle: (events: readonly RecordedEvent[]) => Promise<void>;
      readonly handleInTransaction?: never;
    }
  | { readonly handleInTransaction: TransactionalBatchHandler; readonly handle?: never };

export type SubscriptionOptions = BatchDelivery & {
  readonly db: Kysely<Database>;
  /**
   * A direct connection (not through a transaction-pooling proxy) for LISTEN and the ownership
   * lock: both belong to one server session, which a pooler such as PgBouncer in transaction mode
   * hands to other clients between transactions, silently releasing or leaking the lock.
   */
  readonly connectionString: string;
  /** The checkpoint row it advances; also names its session and its ownership lock. */
  readonly subscriptionId: string;
  /** How events are read (e.g. the schemas that check them). */
  readonly store?: EventStoreOptions;
  /**
   * Only these events are read. The checkpoint moves to the last event returned, so the others
   * committed before it are passed over for good; those after it are stepped over again (in SQL) by
   * the next read until a matching event follows them.
   */
  readonly filter?: Omit<ReadAllOptions, 'limit'>;
  /**
   * One active instance across all processes: the others stand by on a Postgres advisory lock and
   * take over when the owner's session ends. The checkpoint's compare-and-set still guards against
   * a double owner (a lock lost behind a pooler).
   */
  readonly exclusive?: boolean;
  /** See subscriptionDefaults.batchSize. */
  readonly batchSize?: number;
  /**
   * After a batch smaller than `batchSize`, at least this long passes between one read's start and
   * the next, notifications or not: under a steady stream of appends each read (and checkpoint
   * write, or projection transaction) then carries several commits' events instead of one or two.
   */
  readonly gatherMs?: number;
  /** Longest sleep between reads when no notification arrives. */
  readonly maxPollIntervalMs?: number;
  /** How often a standby tries to become the owner. */
  readonly ownershipRetryMs?: number;
  readonly onError?: (error: unknown) => void;
  /** Told when this instance becomes the active owner (for logs and tests). */
  readonly onOwnership?: () => void;
};

export interface RunningSubscription {
  /** The position handled last (in this instance's view). */
  position(): LogPosition;
  /** Whether this instance is the active one (always true when not exclusive, once started). */
  isOwner(): boolean;
  stop(): Promise<void>;
}

/** The at-least-once delivery: handle, then move the checkpoint (compare-and-set). */
function afterHandling(
  db: Kysely<Database>,
  subscriptionId: string,
  handle: (events: readonly RecordedEvent[]) => Promise<void>,
): TransactionalBatchHandler {
  return async (events, from, to) => {
    await handle(events);
    return advanceCheckpoint(db, subscriptionId, from, to);
  };
}

/**
 * Follows the global log from the subscription's checkpoint in commit-safe order, woken by NOTIFY
 * and falling back to polling with backoff. Every reader of the log (the dispatcher, projections)
 * runs on this one loop; they differ only in what they do with a batch.
 */
export async function startSubscription(options: SubscriptionOptions): Promise<RunningSubscription> {
  const { db, subscriptionId } = options;
  const store = createEventStore(db, options.store);
  const batchSize = options.batchSize ?? subscriptionDefaults.batchSize;
  const gatherMs = options.gatherMs ?? subscriptionDefaults.gatherMs;
  const maxPollIntervalMs = options.maxPollIntervalMs ?? subscriptionDefaults.maxPollIntervalMs;
  const ownershipRetryMs = options.ownershipRetryMs ?? subscriptionDefaults.ownershipRetryMs;
  const handleBatch = options.handleInTransaction ?? afterHandling(db, subscriptionId, options.handle);
  let position = await loadCheckpoint(db, subscriptionId);
  let stopped = false;
  const { sleep, wake } = createWakeableSleep();
  // A reader of one kind of stream is not woken by appends to others: the API's schedules read
  // model read the log after every job append, to find nothing. An empty payload (a sender that
  // names no stream) wakes every reader.
  const prefix = options.filter?.streamPrefix;
  const concernsReader = (streamId: string) =>
    prefix === undefined || streamId === '' || streamId.startsWith(prefix);
  // Whether a notification for this reader came since its last read began: an empty read then
  // means the append is not yet visible (an older transaction still runs), not that the log is
  // quiet, so the next poll comes soon instead of backing off.
  let notifiedSinceRead = false;

  const session = createOwnedSession({
    connectionString: options.connectionString,
    applicationName: `omni-${subscriptionId}`,
    ...(options.exclusive ? { lockKey: `subscription:${subscriptionId}` } : {}),
    onNotification: (streamId) => {
      if (!concernsReader(streamId)) return;
      notifiedSinceRead = true;
      wake();
    },
    ...(options.onError ? { onError: options.onError } : {}),
    onActive: async () => {
      // A new owner resumes from the committed checkpoint, not from what it saw while standing by.
      position = await loadCheckpoint(db, subscriptionId);
      options.onOwnership?.();
    },
  });

  const loop = (async () => {
    let idleDelay: number = subscriptionDefaults.firstPollIntervalMs;
    while (!stopped) {
      try {
        if (!(await session.ensureActive())) {
          await sleep(ownershipRetryMs);
          continue;
        }
        const readStarted = performance.now();
        const notified = notifiedSinceRead;
        notifiedSinceRead = false;
        const events = await store.readAll(position, { limit: batchSize, ...options.filter });
        const last = events.at(-1);
        if (!last) {
          if (notified) idleDelay = subscriptionDefaults.firstPollIntervalMs;
          await sleep(idleDelay);
          idleDelay = Math.min(idleDelay * 2, maxPollIntervalMs);
          continue;
        }
        idleDelay = subscriptionDefaults.firstPollIntervalMs;
        const next = { transactionId: last.transactionId, globalPosition: last.globalPosition };
        if (!(await handleBatch(events, position, next))) {
          // Another instance (or a replay's swap) moved it: resume from what is committed.
          position = await loadCheckpoint(db, subscriptionId);
          continue;
        }
        position = next;
        const gatherLeft = readStarted + gatherMs - performance.now();
        if (events.length < batchSize && gatherLeft > 0 && !stopped) {
          await new Promise((resolve) => setTimeout(resolve, gatherLeft));
        }
      } catch (error) {
        options.onError?.(error);
        await sleep(maxPollIntervalMs);
      }
    }
  })();

  return {
    position: () => position,
    isOwner: () => session.isActive(),
    async stop() {
      stopped = true;
      wake();
      await loop;
      await session.close();
    },
  };
}
