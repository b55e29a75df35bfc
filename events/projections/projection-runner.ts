import { type Kysely, sql } from 'kysely';
import { advanceCheckpoint, loadCheckpoint } from '../checkpoints.ts';
import { createEventStore, type EventStoreOptions, type LogPosition } from '../event-store.ts';
import { createOwnedSession } from '../owned-session.ts';
import type { Database } from '../tables.ts';
import {
  createUnreadableEventLog,
  type UnreadableEvent,
  type UnreadableEventLog,
} from '../unreadable-events.ts';
import { createWakeableSleep } from '../wakeable-sleep.ts';
import { applyReadable } from './apply-readable.ts';
import type { Projection } from './projection.ts';

export interface ProjectionRunnerOptions {
  readonly db: Kysely<Database>;
  /**
   * A direct connection (not through a transaction-pooling proxy) for LISTEN and the ownership
   * lock: both belong to one server session, which a pooler such as PgBouncer in transaction mode
   * hands to other clients between transactions, silently releasing or leaking the lock.
   */
  readonly connectionString: string;
  readonly projection: Projection;
  readonly store?: EventStoreOptions;
  readonly batchSize?: number;
  /**
   * After a batch smaller than `batchSize`, at least this long passes between one read's start and
   * the next: under a steady stream of commits each transaction (table lock, checkpoint, upsert)
   * then folds several commits' events instead of one. Default 0.
   */
  readonly gatherMs?: number;
  /** Longest sleep between reads when no notification arrives. */
  readonly maxPollIntervalMs?: number;
  /** How often a standby instance tries to become the owner. */
  readonly ownershipRetryMs?: number;
  readonly onError?: (error: unknown) => void;
  /**
   * Where an event the projection cannot fold is reported; it is stepped over and the checkpoint
   * moves past it, so one bad event never stops the read model. Default: recorded in the table only.
   */
  readonly unreadable?: UnreadableEventLog;
}

export interface RunningProjection {
  /** The position folded last (in this instance's view). */
  position(): LogPosition;
  /** Whether this instance holds the projection's lock and is the one applying events. */
  isOwner(): boolean;
  stop(): Promise<void>;
}

/** Thrown inside the transaction to roll back a batch whose checkpoint someone else moved. */
class CheckpointMoved extends Error {}

/**
 * Keeps a projection's table folded from the log. Each batch is applied in the same transaction
 * that advances its checkpoint with compare-and-set, so the table always equals the fold of the
 * log up to the checkpoint: exactly-once in effect. One instance owns it (a session advisory lock);
 * the CAS keeps a second writer harmless if the lock is ever lost (e.g. behind a pooler).
 */
export async function startProjectionRunner(options: ProjectionRunnerOptions): Promise<RunningProjection> {
  const { db, projection } = options;
  const store = createEventStore(db, options.store);
  const batchSize = options.batchSize ?? 1000;
  const maxPollIntervalMs = options.maxPollIntervalMs ?? 1000;
  const ownershipRetryMs = options.ownershipRetryMs ?? 2000;
  const unreadable = options.unreadable ?? createUnreadableEventLog({ db });
  let position = await loadCheckpoint(db, projection.checkpointId);
  let stopped = false;
  const { sleep, wake } = createWakeableSleep();

  const session = createOwnedSession({
    connectionString: options.connectionString,
    applicationName: `omni-projection-${projection.name}`,
    lockKey: `projection:${projection.name}`,
    onNotification: wake,
    ...(options.onError ? { onError: options.onError } : {}),
    // A new owner resumes from the checkpoint, not from what it saw while standing by.
    onActive: async () => {
      position = await loadCheckpoint(db, projection.checkpointId);
    },
  });

  async function step(): Promise<number> {
    const events = await store.readAll(position, {
      limit: batchSize,
      ...(projection.types ? { types: projection.types } : {}),
      ...(projection.streamPrefix ? { streamPrefix: projection.streamPrefix } : {}),
      ...(projection.omitDataKeys ? { omitDataKeys: projection.omitDataKeys } : {}),
    });
    const last = events.at(-1);
    if (!last) return 0;
    const next = { transactionId: last.transactionId, globalPosition: last.globalPosition };
    try {
      const skipped: UnreadableEvent[] = await db.transaction().execute(async (trx) => {
        // Take the table first, before the checkpoint row: a replay swap locks in the same order
        // (table, then checkpoint), so the two wait for each other instead of deadlocking.
        await sql`lock table ${sql.table(projection.table)} in row exclusive mode`.execute(trx);
        if (!(await advanceCheckpoint(trx, projection.checkpointId, position, next)))
          throw new CheckpointMoved();
        const left = await applyReadable(trx, projection, projection.table, events);
        // Recorded with the checkpoint that passes them: an event is never stepped over unrecorded.
        return unreadable.record(projection.checkpointId, left, trx);
      });
      unreadable.announce(projection.checkpointId, skipped);
      position = next;
      return events.length;
    } catch (error) {
      if (!(error instanceof CheckpointMoved)) throw error;
      // A replay swapped the table in, or another owner advanced: resume from what is committed.
      position = await loadCheckpoint(db, projection.checkpointId);
      return 1;
    }
  }

  const loop = (async () => {
    let idleDelay = 25;
    while (!stopped) {
      try {
        if (!(await session.ensureActive())) {
          await sleep(ownershipRetryMs);
          continue;
        }
        const readStarted = performance.now();
        const applied = await step();
        if (applied > 0) {
          idleDelay = 25;
          const gatherLeft = readStarted + (options.gatherMs ?? 0) - performance.now();
          if (applied < batchSize && gatherLeft > 0 && !stopped) {
            await new Promise((resolve) => setTimeout(resolve, gatherLeft));
          }
          continue;
        }
        await sleep(idleDelay);
        idleDelay = Math.min(idleDelay * 2, maxPollIntervalMs);
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
