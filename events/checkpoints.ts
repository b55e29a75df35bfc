import { type Kysely, sql } from 'kysely';
import { type LogPosition, logStart } from './event-store.ts';
import type { Database } from './tables.ts';

/** Where a subscription stopped reading; the log's start when it never ran. */
export async function loadCheckpoint(db: Kysely<Database>, subscriptionId: string): Promise<LogPosition> {
  const row = await db
    .selectFrom('checkpoints')
    .select([sql<string>`transaction_id::text`.as('transaction_id'), 'global_position'])
    .where('subscription_id', '=', subscriptionId)
    .executeTakeFirst();
  return row ? { transactionId: row.transaction_id, globalPosition: row.global_position } : logStart;
}

/**
 * Moves a checkpoint forward from `from` to `to`. Compare-and-set: returns false (and writes
 * nothing) when another instance moved it meanwhile, so two owners can never both advance it.
 */
export async function advanceCheckpoint(
  db: Kysely<Database>,
  subscriptionId: string,
  from: LogPosition,
  to: LogPosition,
): Promise<boolean> {
  const { rows } = await sql`
    insert into checkpoints (subscription_id, transaction_id, global_position)
    values (${subscriptionId}, ${to.transactionId}::xid8, ${to.globalPosition})
    on conflict (subscription_id) do update
      set transaction_id = excluded.transaction_id, global_position = excluded.global_position, updated_at = now()
      where checkpoints.transaction_id = ${from.transactionId}::xid8
        and checkpoints.global_position = ${from.globalPosition}
    returning 1
  `.execute(db);
  return rows.length === 1;
}
