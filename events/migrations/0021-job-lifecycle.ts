import { type Kysely, sql } from 'kysely';

/**
 * Worker leases (liveness that survives a Redis wipe) and the jobs read model's lifecycle columns:
 * priority, when a queued attempt is due and until when it may wait, and who cancelled it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table worker_leases (
      worker_id text primary key,
      expires_at timestamptz not null
    )
  `.execute(db);
  await sql`grant select, insert, update, delete on worker_leases to omni_service`.execute(db);
  await sql`
    alter table jobs
      add column priority integer,
      add column due_at timestamptz,
      add column expires_at timestamptz,
      add column cancelled_by text
  `.execute(db);
  // Listing: a tenant's jobs by status, newest first.
  await sql`create index jobs_by_tenant_status on jobs (tenant, status, submitted_at desc, id desc)`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index jobs_by_tenant_status`.execute(db);
  await sql`alter table jobs drop column priority, drop column due_at, drop column expires_at, drop column cancelled_by`.execute(
    db,
  );
  await sql`drop table worker_leases`.execute(db);
}
