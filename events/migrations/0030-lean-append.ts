import { type Kysely, sql } from 'kysely';

/**
 * Makes an append cost about what it writes. Measured on 0004's `append_events`, a single-event
 * append spent ~150-250 µs inside the function against ~10 µs for a plain insert; the causes and
 * their fixes:
 *
 * 1. `event_hash` was declared IMMUTABLE over a body that calls STABLE functions (`concat_ws`,
 *    `extract`), so the planner never inlined it: every call went through the SQL-function
 *    executor, which parses and plans the body again in each transaction. Declared STABLE (the body
 *    is unchanged, so every stored hash still verifies) it is inlined into the calling expression,
 *    4x faster per call; `verify` gains the same.
 * 2. The up-front lookup of the event ids ran on every append. A retry that expects a version can
 *    never match it again (its first attempt moved the stream on), so the lookup now runs only on
 *    the conflict path, or up front when no version is expected. An id stored earlier that meets a
 *    matching version is refused by the unique index (SQLSTATE 23505 on `events_event_id_key`).
 * 3. The stream row was written two or three times (insert, version, then last hash). A new stream
 *    (expected version 0) is now inserted once with its final version and hash; an existing stream
 *    is updated once, the hash computed inside the UPDATE, for a single event (the common case).
 * 4. One multi-row INSERT instead of one INSERT statement per event.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter function event_hash(bytea, text, bigint, uuid, text, integer, jsonb, jsonb, timestamptz) stable
  `.execute(db);

  // event_chain(previous hash, stream id, version before, events, recorded at) -> bytea[]
  //   The hash of each event of `events` (the JSON array append_events takes), in order, each over
  //   the one before it; the first over `previous`. Empty for an empty array.
  await sql`
    create function event_chain(
      p_previous bytea, p_stream_id text, p_version bigint, p_events jsonb, p_recorded_at timestamptz
    ) returns bytea[] language plpgsql stable parallel safe as $$
    declare
      v_hashes bytea[] := '{}';
      v_hash bytea := p_previous;
      v_event jsonb;
    begin
      for v_event in select x from jsonb_array_elements(p_events) x loop
        p_version := p_version + 1;
        v_hash := event_hash(v_hash, p_stream_id, p_version, (v_event->>'event_id')::uuid, v_event->>'type',
          (v_event->>'schema_version')::integer, v_event->'data', v_event->'metadata', p_recorded_at);
        v_hashes := v_hashes || v_hash;
      end loop;
      return v_hashes;
    end
    $$
  `.execute(db);
  await sql`
    grant execute on function event_chain(bytea, text, bigint, jsonb, timestamptz) to omni_service
  `.execute(db);

  // append_events(stream id, expected version, events) -> (global_position, stream_version) per event
  //   expected version: the stream's version the caller decided on (0 = the stream must be new);
  //                     null = append whatever the version is (for writers that never conflict).
  //   events: a JSON array of {event_id, type, schema_version, data, metadata}.
  // Errors: SQLSTATE OM001 = the stream is not at the expected version (detail holds the actual one);
  //         OM002 = some but not all of the event ids were already appended (found on the
  //                 conflict path, or up front when no version is expected);
  //         23505 on events_event_id_key = an event id already stored met a matching version.
  // An append whose event ids were all stored before (a retry after a lost reply) returns the stored
  // rows instead of writing twice. It does not NOTIFY: the caller does, after commit (see 0004).
  await sql`
    create or replace function append_events(p_stream_id text, p_expected_version bigint, p_events jsonb)
    returns table (global_position bigint, stream_version bigint)
    language plpgsql as $$
    declare
      v_count integer := jsonb_array_length(p_events);
      v_now timestamptz := now();
      v_ids uuid[];
      v_existing integer;
      v_version bigint;   -- the stream's version before this append, once it is ours
      v_hash bytea;
      v_hashes bytea[];
      v_event jsonb;
      v_retry_checked boolean := false;
    begin
      if p_expected_version is null then
        -- Without a version check a retry would append again: recognise it before writing.
        v_retry_checked := true;
        v_ids := array(select (x->>'event_id')::uuid from jsonb_array_elements(p_events) x);
        select count(*) into v_existing from events e where e.event_id = any(v_ids);
        if v_existing = v_count and v_count > 0 then
          return query select e.global_position, e.stream_version from events e
            where e.event_id = any(v_ids) and e.stream_id = p_stream_id
            order by e.stream_version;
          return;
        elsif v_existing > 0 then
          raise exception 'some events of this append were already stored' using errcode = 'OM002';
        end if;
        insert into streams (stream_id, version) values (p_stream_id, 0) on conflict do nothing;
      elsif p_expected_version = 0 then
        -- A new stream: its row is written once, already at its final version and hash.
        v_hashes := event_chain(''::bytea, p_stream_id, 0, p_events, v_now);
        insert into streams (stream_id, version, last_hash)
          values (p_stream_id, v_count, coalesce(v_hashes[v_count], ''::bytea))
          on conflict do nothing;
        if found then
          v_version := 0;
        end if;
      end if;

      if v_version is not null then
        null;
      elsif v_count = 1 then
        -- One event: its hash is the stream's new last hash, computed from the old one in the UPDATE.
        v_event := p_events->0;
        update streams s set version = s.version + 1,
            last_hash = event_hash(s.last_hash, p_stream_id, s.version + 1, (v_event->>'event_id')::uuid,
              v_event->>'type', (v_event->>'schema_version')::integer, v_event->'data', v_event->'metadata', v_now)
          where s.stream_id = p_stream_id
            and (p_expected_version is null or s.version = p_expected_version)
          returning s.version - 1, array[s.last_hash] into v_version, v_hashes;
      else
        update streams s set version = s.version + v_count
          where s.stream_id = p_stream_id
            and (p_expected_version is null or s.version = p_expected_version)
          returning s.version - v_count, s.last_hash into v_version, v_hash;
        if found and v_count > 0 then
          v_hashes := event_chain(v_hash, p_stream_id, v_version, p_events, v_now);
          update streams s set last_hash = v_hashes[v_count] where s.stream_id = p_stream_id;
        end if;
      end if;

      if v_version is null then
        -- Not at the expected version: a retry of an append that was stored, or a real conflict.
        if not v_retry_checked then
          v_ids := array(select (x->>'event_id')::uuid from jsonb_array_elements(p_events) x);
          select count(*) into v_existing from events e where e.event_id = any(v_ids);
          if v_existing = v_count and v_count > 0 then
            return query select e.global_position, e.stream_version from events e
              where e.event_id = any(v_ids) and e.stream_id = p_stream_id
              order by e.stream_version;
            return;
          elsif v_existing > 0 then
            raise exception 'some events of this append were already stored' using errcode = 'OM002';
          end if;
        end if;
        select s.version into v_version from streams s where s.stream_id = p_stream_id;
        raise exception 'stream % is at version %, expected %', p_stream_id, coalesce(v_version, 0), p_expected_version
          using errcode = 'OM001', detail = coalesce(v_version, 0)::text;
      end if;

      return query insert into events as e
          (stream_id, stream_version, event_id, type, schema_version, data, metadata, recorded_at, hash)
        select p_stream_id, v_version + x.n, (x.e->>'event_id')::uuid, x.e->>'type',
          (x.e->>'schema_version')::integer, x.e->'data', x.e->'metadata', v_now, v_hashes[x.n]
        from jsonb_array_elements(p_events) with ordinality as x(e, n)
        order by x.n
        returning e.global_position, e.stream_version;
    end
    $$
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('0030 is not reverted: restore the append_events of 0004 by hand if ever needed');
}
