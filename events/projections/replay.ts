import { type Kysely, sql, type Transaction } from 'kysely';
import {
  createEventStore,
  type EventStoreOptions,
  type LogPosition,
  logStart,
  type RecordedEvent,
} from '../event-store.ts';
import { advisoryLockNamespace } from '../owned-session.ts';
import type { Database } from '../tables.ts';
import { createUnreadableEventLog, type UnreadableEventLog } from '../unreadable-events.ts';
import { applyReadable } from './apply-readable.ts';
import type { Projection } from './projection.ts';

export interface ReplayProgress {
  readonly events: number;
  readonly seconds: number;
  readonly eventsPerSecond: number;
}

export interface ReplayOptions {
  /** Called after each batch. */
  readonly onProgress?: (progress: ReplayProgress) => void;
  readonly batchSize?: number;
  readonly store?: EventStoreOptions;
  /** Longest the swap may wait for readers of the live table before giving up. */
  readonly lockTimeoutMs?: number;
  /** Where events the projection cannot fold are reported (and stepped over); default: the table only. */
  readonly unreadable?: UnreadableEventLog;
}

export interface ReplayResult extends ReplayProgress {
  readonly projection: string;
  /** The rebuilt table's name before it took the live name. */
  readonly rebuiltAs: string;
  /** The checkpoint the projection resumes from. */
  readonly position: LogPosition;
}

/** Another replay of the same projection holds its lock. */
export class ReplayInProgressError extends Error {
  readonly code = 'replay-in-progress';
  constructor(projection: string) {
    super(`a replay of ${projection} is already running`);
    this.name = 'ReplayInProgressError';
  }
}

/**
 * Rebuilds a projection from position zero into a fresh table, then swaps it in for the live one
 * (blue/green) in one short transaction, resetting only that projection's checkpoint. Readers keep
 * reading the old table until the swap; the live runner pauses only for the swap itself.
 */
export async function replayProjection(
  db: Kysely<Database>,
  projection: Projection,
  options: ReplayOptions = {},
): Promise<ReplayResult> {
  // One replay per projection at a time; the lock lives on a connection held for the whole run.
  return db.connection().execute(async (session) => {
    const lockKey = `replay:${projection.name}`;
    const { rows } = await sql<{ locked: boolean }>`
      select pg_try_advisory_lock(${advisoryLockNamespace}, hashtext(${lockKey})) as locked
    `.execute(session);
    if (rows[0]?.locked !== true) throw new ReplayInProgressError(projection.name);
    try {
      return await rebuildAndSwap(db, projection, options);
    } finally {
      await sql`select pg_advisory_unlock(${advisoryLockNamespace}, hashtext(${lockKey}))`.execute(session);
    }
  });
}

/** The first read's size; each read after it asks for `batchGrowth` times more, up to the batch size. */
const firstBatchSize = 1000;
const batchGrowth = 4;

/** Waits for all, then throws the first failure: nothing is left running against a table about to be dropped. */
async function settleAll(pending: readonly Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(pending)).find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
}

async function rebuildAndSwap(
  db: Kysely<Database>,
  projection: Projection,
  options: ReplayOptions,
): Promise<ReplayResult> {
  const batchSize = options.batchSize ?? 5000;
  const started = performance.now();
  const rebuild = `${projection.table}_rebuild_${Date.now()}`;
  let events = 0;
  const progress = (): ReplayProgress => {
    const seconds = (performance.now() - started) / 1000;
    return { events, seconds, eventsPerSecond: seconds > 0 ? Math.round(events / seconds) : 0 };
  };
  // A read asks for `limit` events; fewer means it reached the head of the log.
  const read = async (store: ReturnType<typeof createEventStore>, after: LogPosition, limit: number) => {
    const batch = await store.readAll(after, {
      limit,
      ...(projection.types ? { types: projection.types } : {}),
      ...(projection.streamPrefix ? { streamPrefix: projection.streamPrefix } : {}),
      ...(projection.omitDataKeys ? { omitDataKeys: projection.omitDataKeys } : {}),
    });
    return { events: batch, atHead: batch.length < limit };
  };
  const advance = (batch: readonly RecordedEvent[], after: LogPosition): LogPosition => {
    const last = batch.at(-1);
    return last ? { transactionId: last.transactionId, globalPosition: last.globalPosition } : after;
  };

  const store = createEventStore(db, options.store);
  const unreadable = options.unreadable ?? createUnreadableEventLog({ db });
  // The live runner's name: what one of them reports, the other does not report again.
  const reader = projection.checkpointId;
  // Batches are read ahead (each read starts as soon as the one before it arrives) while earlier
  // ones are folded and written: reads and writes run on separate connections, so the replay goes
  // at the pace of the slower side rather than of their sum. The first reads are small and grow to
  // `batchSize`: nothing overlaps the first read, and on a short log a full batch of latency is a
  // tenth of the run. The first read also overlaps creating the twin.
  const readAhead = 2;
  const headReached = { events: [], atHead: true } as const;
  let limit = Math.min(batchSize, firstBatchSize);
  const ahead: Promise<{ events: readonly RecordedEvent[]; atHead: boolean }>[] = [];
  const extend = () => {
    const last = ahead.at(-1);
    const nextLimit = limit;
    const next = last
      ? last.then((batch) =>
          batch.atHead ? headReached : read(store, advance(batch.events, logStart), nextLimit),
        )
      : read(store, logStart, nextLimit);
    // Awaited in turn below; one that fails before its turn must not be an unhandled rejection.
    next.catch(() => undefined);
    ahead.push(next);
    limit = Math.min(batchSize, limit * batchGrowth);
  };
  while (ahead.length < readAhead) extend();

  // Until the swap nothing needs the twin to survive a crash, so its statements commit without
  // waiting for the WAL flush; the swap commits as usual, which flushes everything before it.
  const unflushed = <T>(work: (trx: Transaction<Database>) => Promise<T>) =>
    db.transaction().execute(async (trx) => {
      await sql`set local synchronous_commit = off`.execute(trx);
      return work(trx);
    });
  // `like ... including all` keeps the twin's columns, defaults, constraints and indexes in step
  // with whatever the migrations made of the live table. Secondary indexes are built once the rows
  // are in (one sort each) instead of being maintained row by row through the fold. Unique and
  // constraint indexes stay: they may arbitrate upserts.
  const deferred = await unflushed(async (trx) => {
    await sql`create table ${sql.table(rebuild)} (like ${sql.table(projection.table)} including all)`.execute(
      trx,
    );
    const { rows } = await sql<{ name: string; definition: string }>`
      select i.indexrelid::regclass::text as name, pg_get_indexdef(i.indexrelid) as definition
      from pg_index i
      where i.indrelid = ${rebuild}::regclass and not i.indisunique
        and not exists (select from pg_constraint c where c.conindid = i.indexrelid)
    `.execute(trx);
    if (rows.length > 0)
      await sql`drop index ${sql.raw(rows.map(({ name }) => name).join(', '))}`.execute(trx);
    return rows;
  });
  try {
    let position = logStart;
    for (;;) {
      const { events: batch, atHead } = (await ahead.shift()) ?? headReached;
      if (batch.length === 0) break;
      position = advance(batch, position);
      extend();
      const skipped = await unflushed(async (trx) =>
        unreadable.record(reader, await applyReadable(trx, projection, rebuild, batch), trx),
      );
      unreadable.announce(reader, skipped);
      events += batch.length;
      options.onProgress?.(progress());
      // Near the head: what is left is folded inside the swap.
      if (atHead) break;
    }
    await Promise.allSettled(ahead);
    // Each index on a connection of its own: they sort in parallel, and the longest sets the wait.
    await settleAll(deferred.map(({ definition }) => unflushed((trx) => sql.raw(definition).execute(trx))));

    const skippedInSwap = await db.transaction().execute(async (trx) => {
      await sql`set local lock_timeout = ${sql.lit(`${options.lockTimeoutMs ?? 5000}ms`)}`.execute(trx);
      // EXCLUSIVE stops the live runner's writes (it takes ROW EXCLUSIVE first thing) but lets
      // readers on; they wait only for the rename below.
      await sql`lock table ${sql.table(projection.table)} in exclusive mode`.execute(trx);
      const swapStore = createEventStore(trx, options.store);
      const skipped = [];
      for (;;) {
        const { events: batch } = await read(swapStore, position, batchSize);
        if (batch.length === 0) break;
        skipped.push(
          ...(await unreadable.record(reader, await applyReadable(trx, projection, rebuild, batch), trx)),
        );
        position = advance(batch, position);
        events += batch.length;
      }
      await sql`
        insert into checkpoints (subscription_id, transaction_id, global_position)
        values (${projection.checkpointId}, ${position.transactionId}::xid8, ${position.globalPosition})
        on conflict (subscription_id) do update
          set transaction_id = excluded.transaction_id, global_position = excluded.global_position, updated_at = now()
      `.execute(trx);
      await sql`drop table ${sql.table(projection.table)}`.execute(trx);
      await sql`alter table ${sql.table(rebuild)} rename to ${sql.table(projection.table)}`.execute(trx);
      return skipped;
    });
    unreadable.announce(reader, skippedInSwap);
    return { projection: projection.name, rebuiltAs: rebuild, position, ...progress() };
  } catch (error) {
    await sql`drop table if exists ${sql.table(rebuild)}`.execute(db);
    throw error;
  }
}
