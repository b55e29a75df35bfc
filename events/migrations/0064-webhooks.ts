import { type Kysely, sql } from 'kysely';

/**
 * Webhooks: tenants' subscriptions with their signing secrets sealed at rest (a mutable table on
 * purpose, as secrets: the log records a subscription and which key sealed its secret, never the
 * secret), and the deliveries still owed, the delivery role's work list.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table webhook_subscriptions (
      id uuid primary key,
      tenant text not null,
      url text not null,
      -- Terminal job event types, or 'terminal' for all of them.
      events text[] not null,
      -- AES-256-GCM under the SECRETS_KEYS key named by key_id; the subscription id is the associated data.
      key_id text not null,
      nonce bytea not null,
      ciphertext bytea not null,
      tag bytea not null,
      created_at timestamptz not null default now(),
      -- Set by DELETE: kept so deliveries already owed can still be signed, never matched again.
      deleted_at timestamptz
    )
  `.execute(db);
  await sql`create index webhook_subscriptions_by_tenant on webhook_subscriptions (tenant) where deleted_at is null`.execute(
    db,
  );
  // One row per delivery owed: its id is derived from the job event and the target, so handling an
  // event again (after a crash, before the checkpoint moved) owes nothing twice. The body is fixed
  // when the row is made, so every attempt sends the same bytes under the same webhook-id.
  await sql`
    create table webhook_deliveries (
      id uuid primary key,
      tenant text not null,
      job_id uuid not null,
      event_type text not null,
      url text not null,
      -- Absent: the job's own callback, signed with the job's callback secret.
      subscription_id uuid references webhook_subscriptions (id),
      body text not null,
      attempts integer not null default 0,
      next_attempt_at timestamptz not null,
      -- Retried until then (WEBHOOK_RETRY_FOR_MS after the row was made), then given up.
      give_up_at timestamptz not null,
      -- Held by a delivering process until then; a process that dies lets it lapse and another retries.
      lease_until timestamptz,
      finished_at timestamptz,
      created_at timestamptz not null default now()
    )
  `.execute(db);
  await sql`
    create index webhook_deliveries_due on webhook_deliveries (next_attempt_at) where finished_at is null
  `.execute(db);
  await sql`grant select, insert, update on webhook_subscriptions to omni_service`.execute(db);
  await sql`grant select, insert, update on webhook_deliveries to omni_service`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table webhook_deliveries`.execute(db);
  await sql`drop table webhook_subscriptions`.execute(db);
}
