import { type Kysely, sql } from 'kysely';

/**
 * Finished webhook deliveries are removed after `WEBHOOK_RETENTION_MS` (their attempts are events
 * on the job's stream for good): an index to find them by when they finished, and the right to
 * delete them. Before, every delivery ever made stayed in the work list.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create index webhook_deliveries_finished on webhook_deliveries (finished_at) where finished_at is not null
  `.execute(db);
  await sql`grant delete on webhook_deliveries to omni_service`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`revoke delete on webhook_deliveries from omni_service`.execute(db);
  await sql`drop index webhook_deliveries_finished`.execute(db);
}
