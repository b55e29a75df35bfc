import { type Kysely, sql } from 'kysely';

/**
 * Indexes for the questions asked of the jobs read model by time rather than by tenant: what waits
 * or runs now, and what started or finished in the last hour (queue health, the console). Without
 * them each such read scanned every job ever run; with them it is a bitmap-or of three index scans
 * over the recent rows only.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index jobs_open on jobs (status) where status in ('queued', 'running')`.execute(db);
  await sql`create index jobs_by_started_at on jobs (started_at) where started_at is not null`.execute(db);
  await sql`create index jobs_by_finished_at on jobs (finished_at) where finished_at is not null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index jobs_by_finished_at`.execute(db);
  await sql`drop index jobs_by_started_at`.execute(db);
  await sql`drop index jobs_open`.execute(db);
}
