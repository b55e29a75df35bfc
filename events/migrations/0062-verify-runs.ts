import { type Kysely, sql } from 'kysely';

/**
 * Verification runs: one row per run of the chain walk, so any API replica can report a run another
 * one owns, and a run that verified the log is a checkpoint for the next (`below_transaction_id`).
 * Ownership is not stored here: the owner holds a session advisory lock for as long as it runs, and
 * a row still `running` whose owner (`owner_pid`) no longer holds the lock was abandoned.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table verify_runs (
      id uuid primary key,
      status text not null check (status in ('running', 'finished', 'stopped', 'abandoned', 'errored')),
      -- Checks only transactions from from_transaction_id on (the checkpoint it started from); null = the whole log.
      from_transaction_id xid8,
      -- Every event of a transaction below this id had committed when the run started, so a run that
      -- finished with the chain holding has checked all of them: the next run since it starts here.
      below_transaction_id xid8 not null,
      owner_pid integer not null,
      events_checked bigint not null default 0,
      stop_requested boolean not null default false,
      -- The verification's report once finished (ok, first broken position, files); null before.
      result jsonb,
      started_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      finished_at timestamptz
    )
  `.execute(db);
  await sql`create index verify_runs_by_start on verify_runs (started_at desc)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table verify_runs`.execute(db);
}
