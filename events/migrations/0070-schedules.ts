import { type Kysely, sql } from 'kysely';

/**
 * The schedules read model, kept by the `schedules` projection from the `schedule-*` streams.
 * `state` is the schedule folded up to `version` (plain JSON), so a reader folds only the stream's
 * events after it; `next_slot_at` is when the schedule next has a slot (null: paused, deleted or
 * none left), which the firing loop's index answers. Disposable: a replay rebuilds it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table schedules (
      id uuid primary key,
      tenant text not null,
      status text not null,
      name text,
      created_at timestamptz not null,
      next_slot_at timestamptz,
      state jsonb not null,
      version bigint not null,
      last_position bigint not null
    )
  `.execute(db);
  await sql`create index schedules_by_tenant on schedules (tenant, created_at desc, id desc)`.execute(db);
  await sql`create index schedules_due on schedules (next_slot_at) where status = 'active'`.execute(db);
  await sql`grant select, insert, update, delete on schedules to omni_service`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table schedules`.execute(db);
}
