import { type Kysely, sql } from 'kysely';

/**
 * The event store: an append-only `events` table with a per-stream hash chain, the `streams` table
 * that enforces optimistic concurrency, and `checkpoints` for subscriptions.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table streams (
      stream_id text primary key,
      version bigint not null check (version >= 0),
      -- Hash of the stream's last event; the empty bytea starts every chain.
      last_hash bytea not null default ''::bytea
    )
  `.execute(db);

  await sql`
    create table events (
      global_position bigint generated always as identity primary key,
      -- Global readers order by (transaction_id, global_position) and stay below the oldest running
      -- transaction, so an event that commits late with a lower position is never skipped.
      transaction_id xid8 not null default pg_current_xact_id(),
      stream_id text not null,
      stream_version bigint not null check (stream_version >= 1),
      event_id uuid not null unique,
      type text not null,
      schema_version integer not null check (schema_version >= 1),
      data jsonb not null,
      metadata jsonb not null,
      recorded_at timestamptz not null default now(),
      hash bytea not null,
      unique (stream_id, stream_version)
    )
  `.execute(db);

  await sql`create index events_commit_order on events (transaction_id, global_position)`.execute(db);

  await sql`
    create table checkpoints (
      subscription_id text primary key,
      transaction_id xid8 not null,
      global_position bigint not null,
      updated_at timestamptz not null default now()
    )
  `.execute(db);

  // event_hash(previous hash, event fields) -> bytea
  // The canonical bytes are the fields joined by newlines; jsonb's text form is already canonical
  // (keys sorted, whitespace normalised) and the epoch is independent of DateStyle and TimeZone.
  // `append_events` and `verify_events` both use it, so they cannot disagree.
  await sql`
    create function event_hash(
      previous bytea, stream_id text, stream_version bigint, event_id uuid, type text,
      schema_version integer, data jsonb, metadata jsonb, recorded_at timestamptz
    ) returns bytea language sql immutable parallel safe as $$
      select sha256(previous || convert_to(concat_ws(E'\n',
        stream_id, stream_version::text, event_id::text, type, schema_version::text,
        data::text, metadata::text, extract(epoch from recorded_at)::text), 'UTF8'))
    $$
  `.execute(db);

  // append_events(stream id, expected version, events) -> (global_position, stream_version) per event
  //   expected version: the stream's version the caller decided on (0 = the stream must be new);
  //                     null = append whatever the version is (for writers that never conflict).
  //   events: a JSON array of {event_id, type, schema_version, data, metadata}.
  // Errors: SQLSTATE OM001 = the stream is not at the expected version (message holds the actual one);
  //         OM002 = some but not all of the event ids were already appended.
  // An append whose event ids were all stored before (a retry after a lost reply) returns the stored
  // rows instead of writing twice.
  await sql`
    create function append_events(p_stream_id text, p_expected_version bigint, p_events jsonb)
    returns table (global_position bigint, stream_version bigint)
    language plpgsql as $$
    declare
      v_count integer := jsonb_array_length(p_events);
      v_existing integer;
      v_version bigint;
      v_hash bytea;
      v_now timestamptz := now();
      v_event jsonb;
    begin
      select count(*) into v_existing from events e
        where e.event_id in (select (x->>'event_id')::uuid from jsonb_array_elements(p_events) x);
      if v_existing = v_count and v_count > 0 then
        return query select e.global_position, e.stream_version from events e
          where e.event_id in (select (x->>'event_id')::uuid from jsonb_array_elements(p_events) x)
            and e.stream_id = p_stream_id
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
      -- Wakes subscribers; the payload lets a watcher of one stream ignore the rest.
      perform pg_notify('omni_events', p_stream_id);
    end
    $$
  `.execute(db);

  // The log is immutable in the database itself, whoever connects.
  await sql`
    create function refuse_event_change() returns trigger language plpgsql as $$
    begin
      raise exception 'events are immutable: % refused', tg_op using errcode = 'OM003';
    end
    $$
  `.execute(db);
  await sql`
    create trigger events_immutable before update or delete on events
    for each row execute function refuse_event_change()
  `.execute(db);
  await sql`
    create trigger events_no_truncate before truncate on events
    for each statement execute function refuse_event_change()
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('the event store is never migrated down: its events are the history');
}
