import { type Kysely, sql } from 'kysely';
import { advanceCheckpoint } from '../checkpoints.ts';
import type { LogPosition, RecordedEvent } from '../event-store.ts';
import {
  type RunningSubscription,
  type SubscriptionOptions,
  startSubscription,
  type TransactionalBatchHandler,
} from '../subscription.ts';
import type { Database } from '../tables.ts';
import { createUnreadableEventLog, isDataError, type UnreadableEventLog } from '../unreadable-events.ts';
import { applyEachReadable } from './apply-readable.ts';
import type { Projection } from './projection.ts';

/** The subscription's reading, waiting and ownership; the projection decides the rest. */
export type ProjectionRunnerOptions = Omit<
  SubscriptionOptions,
  'subscriptionId' | 'filter' | 'exclusive' | 'handle' | 'handleInTransaction'
> & {
  readonly projection: Projection;
  /**
   * Where an event the projection cannot fold is reported; it is stepped over and the checkpoint
   * moves past it, so one bad event never stops the read model. Default: recorded in the table only.
   */
  readonly unreadable?: UnreadableEventLog;
};

export type RunningProjection = RunningSubscription;

/** Thrown inside the transaction to roll back a batch whose checkpoint someone else moved. */
class CheckpointMoved extends Error {}

/**
 * Folds a batch into the projection's table in the transaction that advances its checkpoint with
 * compare-and-set, so the table always equals the fold of the log up to the checkpoint.
 */
export function foldInTransaction(
  db: Kysely<Database>,
  projection: Projection,
  unreadable: UnreadableEventLog,
): TransactionalBatchHandler {
  // `eventByEvent` false: the batch is folded whole, with no savepoint around it (two statements
  // fewer in every transaction); should it fail on an event's data, the transaction is rolled back
  // and the batch folded again, event by event, in a new one.
  const fold = (
    events: readonly RecordedEvent[],
    from: LogPosition,
    to: LogPosition,
    eventByEvent: boolean,
  ) =>
    db.transaction().execute(async (trx) => {
      // Take the table first, before the checkpoint row: a replay swap locks in the same order
      // (table, then checkpoint), so the two wait for each other instead of deadlocking.
      await sql`lock table ${sql.table(projection.table)} in row exclusive mode`.execute(trx);
      if (!(await advanceCheckpoint(trx, projection.checkpointId, from, to))) throw new CheckpointMoved();
      if (!eventByEvent) {
        await projection.apply(trx, projection.table, events);
        return [];
      }
      const left = await applyEachReadable(trx, projection, projection.table, events);
      // Recorded with the checkpoint that passes them: an event is never stepped over unrecorded.
      return unreadable.record(projection.checkpointId, left, trx);
    });
  return async (events, from, to) => {
    try {
      const skipped = await fold(events, from, to, false).catch((error: unknown) => {
        if (!isDataError(error)) throw error;
        return fold(events, from, to, true);
      });
      unreadable.announce(projection.checkpointId, skipped);
      return true;
    } catch (error) {
      if (error instanceof CheckpointMoved) return false;
      throw error;
    }
  };
}

/**
 * Keeps a projection's table folded from the log: the subscription loop with the projection's
 * filter, one owner across processes (a session advisory lock; the checkpoint's CAS keeps a second
 * writer harmless if the lock is ever lost), and each batch folded exactly-once in effect.
 */
export function startProjectionRunner(options: ProjectionRunnerOptions): Promise<RunningProjection> {
  const { projection, unreadable, ...loop } = options;
  return startSubscription({
    ...loop,
    subscriptionId: projection.checkpointId,
    exclusive: true,
    filter: {
      ...(projection.types ? { types: projection.types } : {}),
      ...(projection.streamPrefix ? { streamPrefix: projection.streamPrefix } : {}),
      ...(projection.omitDataKeys ? { omitDataKeys: projection.omitDataKeys } : {}),
    },
    handleInTransaction: foldInTransaction(
      options.db,
      projection,
      unreadable ?? createUnreadableEventLog({ db: options.db }),
    ),
  });
}
