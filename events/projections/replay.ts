import { type Kysely, sql } from 'kysely';
import {
  createEventStore,
  type EventStoreOptions,
  type LogPosition,
  logStart,
  type RecordedEvent,
} from '../event-store.ts';
import { advisoryLockNamespace } from '../owned-session.ts';
import type { Database } from '../tables.ts';
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
  const read = (store: ReturnType<typeof createEventStore>, after: LogPosition) =>
    store.readAll(after, {
      limit: batchSize,
      ...(projection.types ? { types: projection.types } : {}),
      ...(projection.streamPrefix ? { streamPrefix: projection.streamPrefix } : {}),
    });
  const advance = (batch: readonly RecordedEvent[], after: LogPosition): LogPosition => {
    const last = batch.at(-1);
    return last ? { transactionId: last.transactionId, globalPosition: last.globalPosition } : after;
  };

  // `like ... including all` keeps the twin's columns, defaults, constraints and indexes in step
  // with whatever the migrations made of the live table.
  await sql`create table ${sql.table(rebuild)} (like ${sql.table(projection.table)} including all)`.execute(
    db,
  );
  try {
    // Secondary indexes are built once the rows are in (one sort each) instead of being maintained
    // row by row through the fold. Unique and constraint indexes stay: they may arbitrate upserts.
    const { rows: deferred } = await sql<{ name: string; definition: string }>`
      select i.indexrelid::regclass::text as name, pg_get_indexdef(i.indexrelid) as definition
      from pg_index i
      where i.indrelid = ${rebuild}::regclass and not i.indisunique
        and not exists (select from pg_constraint c where c.conindid = i.indexrelid)
    `.execute(db);
    for (const { name } of deferred) await sql`drop index ${sql.raw(name)}`.execute(db);
    const store = createEventStore(db, options.store);
    let position = logStart;
    // Batches are read ahead (each read starts as soon as the one before it arrives) while earlier
    // ones are folded and written: reads and writes run on separate connections, so the replay
    // goes at the pace of the slower side rather than of their sum.
    const readAhead = 2;
    const ahead = [read(store, position)];
    const extend = () => {
      const last = ahead.at(-1) ?? Promise.resolve([]);
      const next = last.then((batch) =>
        batch.length < batchSize ? [] : read(store, advance(batch, logStart)),
      );
      next.catch(() => undefined);
      ahead.push(next);
    };
    while (ahead.length < readAhead) extend();
    for (;;) {
      const batch = (await ahead.shift()) ?? [];
      if (batch.length === 0) break;
      position = advance(batch, position);
      extend();
      await projection.apply(db, rebuild, batch);
      events += batch.length;
      options.onProgress?.(progress());
      // Near the head: what is left is folded inside the swap.
      if (batch.length < batchSize) break;
    }
    await Promise.allSettled(ahead);
    for (const { definition } of deferred) await sql.raw(definition).execute(db);

    await db.transaction().execute(async (trx) => {
      await sql`set local lock_timeout = ${sql.lit(`${options.lockTimeoutMs ?? 5000}ms`)}`.execute(trx);
      // EXCLUSIVE stops the live runner's writes (it takes ROW EXCLUSIVE first thing) but lets
      // readers on; they wait only for the rename below.
      await sql`lock table ${sql.table(projection.table)} in exclusive mode`.execute(trx);
      const swapStore = createEventStore(trx, options.store);
      for (;;) {
        const batch = await read(swapStore, position);
        if (batch.length === 0) break;
        await projection.apply(trx, rebuild, batch);
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
    });
    return { projection: projection.name, rebuiltAs: rebuild, position, ...progress() };
  } catch (error) {
    await sql`drop table if exists ${sql.table(rebuild)}`.execute(db);
    throw error;
  }
}
