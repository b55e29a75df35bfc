import { type Kysely, sql } from 'kysely';

/**
 * Group commit: many appends, each to its own stream and with its own expected version, in one
 * statement and one transaction. Every append is still checked and chained exactly as
 * `append_events` does it (it is called for each); what the group shares is the round trip, the
 * transaction and the commit's WAL flush, which is most of what a single-event append costs.
 *
 * One append's expected failure (not at the expected version, a partial duplicate) must not undo the
 * others, so each runs in a subtransaction (a plpgsql exception block) and its error is returned as
 * its result instead of raised. Any other error fails the whole group: nothing of it is committed.
 * Callers keep a group well under 64 appends: more subtransactions than that overflow the backend's
 * cache of them and make every other session's snapshot checks slower.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // append_events_batch(appends) -> one row per append, in the order given
  //   appends: a JSON array of {stream_id, expected_version (number or null), events (as for
  //            append_events)}.
  //   Each row: the append's index (1-based), and either its last event's global position and its
  //   stream's new version, or the SQLSTATE, detail and constraint of the error that refused it
  //   (OM001, OM002, 23505 — see append_events in 0030).
  await sql`
    create function append_events_batch(p_appends jsonb)
    returns table (
      item integer, global_position bigint, stream_version bigint,
      error_code text, error_detail text, error_constraint text
    )
    language plpgsql as $$
    declare
      v_append jsonb;
      v_item integer;
    begin
      for v_append, v_item in select x.a, x.n from jsonb_array_elements(p_appends) with ordinality x(a, n) loop
        item := v_item;
        error_code := null;
        error_detail := null;
        error_constraint := null;
        begin
          select max(r.global_position), max(r.stream_version) into global_position, stream_version
          from append_events(v_append->>'stream_id', (v_append->>'expected_version')::bigint, v_append->'events') r;
        exception when sqlstate 'OM001' or sqlstate 'OM002' or unique_violation then
          get stacked diagnostics error_code = returned_sqlstate, error_detail = pg_exception_detail,
            error_constraint = constraint_name;
          global_position := null;
          stream_version := null;
        end;
        return next;
      end loop;
    end
    $$
  `.execute(db);
  await sql`grant execute on function append_events_batch(jsonb) to omni_service`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop function append_events_batch(jsonb)`.execute(db);
}
