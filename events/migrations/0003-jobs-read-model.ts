import { type Kysely, sql } from 'kysely';

/**
 * The jobs read model, maintained by the `jobs` projection from the log. Disposable by design:
 * `omni replay jobs` rebuilds it (as `create table ... (like jobs including all)`) and swaps it in,
 * so its shape may change in a later migration without any data migration.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table jobs (
      id uuid primary key,
      tenant text,
      status text not null,
      image text not null,
      attempt integer not null,
      submitted_by text,
      submitted_at timestamptz not null,
      started_at timestamptz,
      finished_at timestamptz,
      exit_code integer,
      failure_reason text,
      failure_message text,
      worker_id text,
      duration_ms double precision,
      -- The job stream's version and the global position folded last: a reader can tell how fresh
      -- a row is, and compare it with the log.
      version bigint not null,
      last_position bigint not null
    )
  `.execute(db);
  await sql`create index jobs_by_tenant on jobs (tenant, submitted_at)`.execute(db);
  // The service role was given default privileges in 0002; spelled out for databases migrated by a
  // different user than the one that ran 0002.
  await sql`grant select, insert, update, delete on jobs to omni_service`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table jobs`.execute(db);
}
