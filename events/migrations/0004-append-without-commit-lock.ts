import { type Kysely, sql } from 'kysely';

/**
 * Makes appends scale with concurrent writers. Two changes to `append_events` from 0001:
 *
 * 1. No `pg_notify` inside the append. NOTIFY takes a database-wide lock at commit and holds it
 *    until the commit record is flushed, so every notifying transaction commits one after another
 *    and group commit never happens: 8 writers appended slower than 1. The store now sends the
 *    notification right after the append commits (coalesced, off the caller's round trip); a
 *    notify-only transaction writes no WAL of its own, so it holds that lock only for moments.
 * 2. The idempotency check looks event ids up with `= any(array)`, which uses the unique index
 *    whatever plan plpgsql caches; the `in (select ... jsonb_array_elements ...)` form could be
 *    cached as a sequential scan of the whole log.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // append_events(stream id, expected version, events) -> (global_position, stream_version) per event
  //   expected version: the stream's version the caller decided on (0 = the stream must be new);
  //                     null = append whatever the version is (for writers that never conflict).
  //   events: a JSON array of {event_id, type, schema_version, data, metadata}.
  // Errors: SQLSTATE OM001 = the stream is not at the expected version (detail holds the actual one);
  //         OM002 = some but not all of the event ids were already appended.
  // An append whose event ids were all stored before (a retry after a lost reply) returns the stored
  // rows instead of writing twice. It does not NOTIFY: the caller does, after commit.
  await sql`
    create or replace function append_events(p_stream_id text, p_expected_version bigint, p_events jsonb)
    returns table (global_position bigint, stream_version bigint)
    language plpgsql as $$
    declare
      v_ids uuid[] := array(select (x->>'event_id')::uuid from jsonb_array_elements(p_events) x);
      v_count integer := cardinality(v_ids);
      v_existing integer;
      v_version bigint;
      v_hash bytea;
      v_now timestamptz := now();
      v_event jsonb;
    begin
      select count(*) into v_existing from events e where e.event_id = any(v_ids);
      if v_existing = v_count and v_count > 0 then
        return query select e.global_position, e.stream_version from events e
          where e.event_id = any(v_ids) and e.stream_id = p_stream_id
          order by e.stream_version;
        return;
      elsif v_existing > 0 then
        raise exception 'some events of this append were already stored' using errcode = 'OM002';
      end if;

      if p_expected_version is null or p_expected_version = 0 then
        insert into streams (stream_id, version) values (p_stream_id, 0) on conflict do nothing;
      end if;
      update streams s set version = s.version + v_count
        where s.stream_id = p_stream_id
          and (p_expected_version is null or s.version = p_expected_version)
        returning s.version - v_count, s.last_hash into v_version, v_hash;
      if not found then
        select s.version into v_version from streams s where s.stream_id = p_stream_id;
        raise exception 'stream % is at version %, expected %', p_stream_id, coalesce(v_version, 0), p_expected_version
          using errcode = 'OM001', detail = coalesce(v_version, 0)::text;
      end if;

      for v_event in select * from jsonb_array_elements(p_events) loop
        v_version := v_version + 1;
        v_hash := event_hash(v_hash, p_stream_id, v_version, (v_event->>'event_id')::uuid, v_event->>'type',
          (v_event->>'schema_version')::integer, v_event->'data', v_event->'metadata', v_now);
        return query insert into events as e
          (stream_id, stream_version, event_id, type, schema_version, data, metadata, recorded_at, hash)
          values (p_stream_id, v_version, (v_event->>'event_id')::uuid, v_event->>'type',
            (v_event->>'schema_version')::integer, v_event->'data', v_event->'metadata', v_now, v_hash)
          returning e.global_position, e.stream_version;
      end loop;
      update streams s set last_hash = v_hash where s.stream_id = p_stream_id;
    end
    $$
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('0004 is not reverted: restore the notifying append_events of 0001 by hand if ever needed');
}
