import { type Kysely, sql } from 'kysely';
import type { RecordedEvent } from '../event-store.ts';
import type { Database } from '../tables.ts';
import { isDataError, type UnreadableEvent, unreadableEvent } from '../unreadable-events.ts';
import type { Projection } from './projection.ts';

/**
 * Folds a batch into `table` inside the caller's transaction, leaving out any event the projection
 * cannot fold (its content fails a Postgres cast or the fold itself); returns those. The batch is
 * first tried whole, as fast as ever; only if it fails on data is it folded again one event at a
 * time, each in a savepoint, so one unreadable event costs its own fold and not every stream's.
 */
export async function applyReadable(
  trx: Kysely<Database>,
  projection: Projection,
  table: string,
  events: readonly RecordedEvent[],
): Promise<UnreadableEvent[]> {
  await sql`savepoint apply_batch`.execute(trx);
  try {
    await projection.apply(trx, table, events);
    await sql`release savepoint apply_batch`.execute(trx);
    return [];
  } catch (error) {
    if (!isDataError(error)) throw error;
    await sql`rollback to savepoint apply_batch`.execute(trx);
  }
  return applyEachReadable(trx, projection, table, events);
}

/**
 * Folds a batch one event at a time, each in a savepoint of the caller's transaction, leaving out
 * (and returning) any event the projection cannot fold.
 */
export async function applyEachReadable(
  trx: Kysely<Database>,
  projection: Projection,
  table: string,
  events: readonly RecordedEvent[],
): Promise<UnreadableEvent[]> {
  const skipped: UnreadableEvent[] = [];
  for (const event of events) {
    await sql`savepoint apply_event`.execute(trx);
    try {
      await projection.apply(trx, table, [event]);
      await sql`release savepoint apply_event`.execute(trx);
    } catch (error) {
      if (!isDataError(error)) throw error;
      await sql`rollback to savepoint apply_event`.execute(trx);
      skipped.push(unreadableEvent(event, error));
    }
  }
  return skipped;
}
