import type { Kysely } from 'kysely';
import { advanceCheckpoint, loadCheckpoint } from './checkpoints.ts';
import {
  createEventStore,
  type LogPosition,
  type ReadAllOptions,
  type RecordedEvent,
} from './event-store.ts';
import { createOwnedSession } from './owned-session.ts';
import type { Database } from './tables.ts';
import { createWakeableSleep } from './wakeable-sleep.ts';

export interface SubscriptionOptions {
  readonly db: Kysely<Database>;
  /** A dedicated session carries LISTEN (and the ownership lock), since pooled connections come and go. */
  readonly connectionString: string;
  readonly subscriptionId: string;
  /** Handles one batch; the checkpoint moves past it only when this resolves. */
  readonly handle: (events: readonly RecordedEvent[]) => Promise<void>;
  /**
   * Only these events are read. The checkpoint moves to the last event returned, so the others
   * committed before it are passed over for good; those after it are stepped over again (in SQL) by
   * the next read until a matching event follows them.
   */
  readonly filter?: Omit<ReadAllOptions, 'limit'>;
  /**
   * One active instance across all processes: the others stand by on a Postgres advisory lock and
   * take over when the owner's session ends. Advisory locks need a session-pinned connection (not a
   * transaction-pooling proxy); the checkpoint's compare-and-set still guards against a double owner.
   */
  readonly exclusive?: boolean;
  readonly batchSize?: number;
  /**
   * After a batch smaller than `batchSize`, at least this long passes between one read's start and
   * the next, notifications or not: under a steady stream of appends each read (and checkpoint
   * write) then carries several commits' events instead of one or two. Default 0.
   */
  readonly gatherMs?: number;
  /** Longest sleep between reads when no notification arrives. */
  readonly maxPollIntervalMs?: number;
  /** How often a standby tries to become the owner. */
  readonly ownershipRetryMs?: number;
  readonly onError?: (error: unknown) => void;
  /** Told when this instance becomes the active owner (for logs and tests). */
  readonly onOwnership?: () => void;
}

export interface RunningSubscription {
  /** The position handled last. */
  position(): LogPosition;
  /** Whether this instance is the active one (always true when not exclusive, once started). */
  isOwner(): boolean;
  stop(): Promise<void>;
}

/**
 * Follows the global log from the subscription's checkpoint: at-least-once delivery in commit-safe
 * order, woken by NOTIFY and falling back to polling with backoff.
 */
export async function startSubscription(options: SubscriptionOptions): Promise<RunningSubscription> {
  const store = createEventStore(options.db);
  const batchSize = options.batchSize ?? 500;
  const maxPollIntervalMs = options.maxPollIntervalMs ?? 1000;
  const ownershipRetryMs = options.ownershipRetryMs ?? 1000;
  let position = await loadCheckpoint(options.db, options.subscriptionId);
  let stopped = false;
  const { sleep, wake } = createWakeableSleep();

  const session = createOwnedSession({
    connectionString: options.connectionString,
    applicationName: `omni-${options.subscriptionId}`,
    ...(options.exclusive ? { lockKey: `subscription:${options.subscriptionId}` } : {}),
    onNotification: wake,
    ...(options.onError ? { onError: options.onError } : {}),
    onActive: async () => {
      // A new owner resumes from the committed checkpoint, not from what it saw while standing by.
      position = await loadCheckpoint(options.db, options.subscriptionId);
      options.onOwnership?.();
    },
  });

  const loop = (async () => {
    let idleDelay = 25;
    while (!stopped) {
      try {
        if (!(await session.ensureActive())) {
          await sleep(ownershipRetryMs);
          continue;
        }
        const readStarted = performance.now();
        const events = await store.readAll(position, { limit: batchSize, ...options.filter });
        const last = events.at(-1);
        if (!last) {
          await sleep(idleDelay);
          idleDelay = Math.min(idleDelay * 2, maxPollIntervalMs);
          continue;
        }
        idleDelay = 25;
        await options.handle(events);
        const next = { transactionId: last.transactionId, globalPosition: last.globalPosition };
        if (!(await advanceCheckpoint(options.db, options.subscriptionId, position, next))) {
          // Another instance moved it: reload rather than fight over it.
          position = await loadCheckpoint(options.db, options.subscriptionId);
          continue;
        }
        position = next;
        const gatherLeft = readStarted + (options.gatherMs ?? 0) - performance.now();
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
