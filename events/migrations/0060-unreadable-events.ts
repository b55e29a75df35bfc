import { type Kysely, sql } from 'kysely';

/**
 * Events a reader could not read (written by hand, or by a release that did not check them) and so
 * stepped over: one row per reader and event, kept so an operator can find and repair each one
 * while every other stream goes on being served.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table unreadable_events (
      reader text not null,
      global_position bigint not null,
      stream_id text not null,
      event_id uuid not null,
      event_type text not null,
      error text not null,
      first_seen_at timestamptz not null default now(),
      primary key (reader, global_position)
    )
  `.execute(db);
  await sql`grant select, insert on unreadable_events to omni_service`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table unreadable_events`.execute(db);
}
