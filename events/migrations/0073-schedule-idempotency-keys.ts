import { type Kysely, sql } from 'kysely';

/**
 * Idempotency keys for creating schedules, as `idempotency_keys` holds them for submitting jobs: a
 * client that retries `POST /v1/schedules` with the same `Idempotency-Key` gets the schedule it made
 * rather than a second one firing beside it. A table of its own, so a job's key and a schedule's
 * key of the same text never meet.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table schedule_idempotency_keys (
      tenant text not null,
      key text not null,
      request_hash text not null,
      schedule_id uuid not null,
      created_at timestamptz not null default now(),
      primary key (tenant, key)
    )
  `.execute(db);
  await sql`grant select, insert, delete on schedule_idempotency_keys to omni_service`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table schedule_idempotency_keys`.execute(db);
}
