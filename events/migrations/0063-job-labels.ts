import { type Kysely, sql } from 'kysely';

/**
 * Labels and the command on the jobs read model, for finding jobs again: `?label=team=data` is a
 * containment test the GIN index answers, and the free-text search (`?q=`) reads the command and
 * the labels of the rows the other filters leave. Both come from `JobSubmitted`; a replay fills
 * them for every job submitted since labels existed (older jobs have none).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table jobs
      add column labels jsonb not null default '{}'::jsonb,
      add column command text not null default ''
  `.execute(db);
  // jsonb_path_ops: smaller and faster than the default operator class for @> alone.
  await sql`create index jobs_by_labels on jobs using gin (labels jsonb_path_ops)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index jobs_by_labels`.execute(db);
  await sql`alter table jobs drop column labels, drop column command`.execute(db);
}
