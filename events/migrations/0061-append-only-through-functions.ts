import { type Kysely, sql } from 'kysely';

/**
 * The service role writes the log only through the append functions. With INSERT on `events` and
 * INSERT/UPDATE on `streams` it could write a correctly chained event with any position,
 * transaction id and `recorded_at` (`insert … overriding system value`), move the stream's head to
 * match, and `verify` would find nothing wrong. Now `append_events` and `append_events_batch` run
 * with their owner's rights (the role that migrates) and decide every one of those fields
 * themselves, and the service role holds no direct write on either table.
 *
 * Every later `create or replace` of these functions must say `security definer` and
 * `set search_path` again: Postgres resets both on replace. Forgetting fails safe: the service
 * role's appends are refused (42501) until it is fixed, and the integrity tests say so.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // The search path is pinned to this schema (then pg_temp, explicitly last) so that a caller's
  // own objects can never stand in for `events`, `streams` or `event_hash` inside the functions.
  // Every overload is covered, by name, so a changed signature cannot slip past.
  await sql`
    do $$
    declare
      v_function regprocedure;
    begin
      for v_function in
        select p.oid::regprocedure from pg_proc p
        where p.proname in ('append_events', 'append_events_batch')
          and p.pronamespace = current_schema()::regnamespace
      loop
        execute format('alter function %s security definer set search_path = %I, pg_temp',
          v_function, current_schema());
        -- Functions are executable by PUBLIC by default; an owner's-rights append must not be.
        execute format('revoke execute on function %s from public', v_function);
        execute format('grant execute on function %s to omni_service', v_function);
      end loop;
    end
    $$
  `.execute(db);
  await sql`revoke insert, update, delete, truncate on events from omni_service`.execute(db);
  await sql`revoke insert, update, delete, truncate on streams from omni_service`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`grant insert on events to omni_service`.execute(db);
  await sql`grant insert, update on streams to omni_service`.execute(db);
  await sql`
    do $$
    declare
      v_function regprocedure;
    begin
      for v_function in
        select p.oid::regprocedure from pg_proc p
        where p.proname in ('append_events', 'append_events_batch')
          and p.pronamespace = current_schema()::regnamespace
      loop
        execute format('alter function %s security invoker reset search_path', v_function);
        execute format('grant execute on function %s to public', v_function);
      end loop;
    end
    $$
  `.execute(db);
}
