import { type Kysely, sql } from 'kysely';

/**
 * `append_events_batch` returns a row per append of a group (at most 48, the group commit's
 * largest), not the 1,000 Postgres assumes of a set-returning function. With 1,000 the statement
 * that also reads each started job's history (events/group-commit.ts) was costed above
 * `jit_above_cost` once the log held some 50k events, and every such statement spent ~15 ms
 * compiling: the pipeline bench at 8 slots fell from ~900 to ~300 jobs/s. A `create or replace`
 * of the function must say `rows 48` again, or it returns to 1,000.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter function append_events_batch(jsonb) rows 48`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter function append_events_batch(jsonb) rows 1000`.execute(db);
}
