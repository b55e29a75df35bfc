import { type Kysely, sql } from 'kysely';

/**
 * Idempotency keys of job submissions, per tenant: the key, a hash of the request it came with and
 * the job it created. Written in the same transaction as the job's JobSubmitted, so a key never
 * points at a job that was not stored (nor a job at two keys).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table idempotency_keys (
      tenant text not null,
      key text not null,
      request_hash text not null,
      job_id uuid not null,
      created_at timestamptz not null default now(),
      primary key (tenant, key)
    )
  `.execute(db);
  await sql`grant select, insert, delete on idempotency_keys to omni_service`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table idempotency_keys`.execute(db);
}
