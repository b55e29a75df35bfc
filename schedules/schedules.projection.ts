import { type Kysely, sql } from 'kysely';
import type { RecordedEvent } from '../events/event-store.ts';
import type { Projection } from '../events/projections/projection.ts';
import type { Database } from '../events/tables.ts';
import { scheduleEventTypes } from '../schemas/schedule-events.schema.ts';
import { evolveSchedule } from './schedule.evolve.ts';
import { initialScheduleState, type ScheduleState } from './schedule.state.ts';
import { slotClock } from './schedule-slots.ts';
import { scheduleStreamPrefix, toScheduleEvent } from './schedule-stream.ts';

interface Folded {
  readonly state: ScheduleState;
  readonly version: number;
  readonly lastPosition: number;
}

/** When an active schedule next has a slot; null otherwise. Pure: the events alone decide it. */
export function nextSlotAt(state: ScheduleState): string | null {
  if (state.status !== 'active') return null;
  const next = slotClock(state.definition.timing, state.definition.startAt).nextAfter(
    Date.parse(state.after),
  );
  return next === undefined ? null : new Date(next).toISOString();
}

/** Folds a batch per schedule onto its row (read first), then writes each touched row once. */
async function applyScheduleEvents(
  db: Kysely<Database>,
  table: string,
  events: readonly RecordedEvent[],
): Promise<void> {
  const ids = [...new Set(events.map((event) => event.streamId.slice(scheduleStreamPrefix.length)))];
  const { rows: existing } = await sql<{ id: string; state: ScheduleState; version: number }>`
    select id, state, version from ${sql.table(table)} where id = any(${ids}::uuid[])
  `.execute(db);
  const folded = new Map<string, Folded>(
    existing.map((row) => [row.id, { state: row.state, version: row.version, lastPosition: 0 }]),
  );
  for (const event of events) {
    const id = event.streamId.slice(scheduleStreamPrefix.length);
    const current = folded.get(id) ?? { state: initialScheduleState(), version: 0, lastPosition: 0 };
    // A replayed or re-read event the row already holds changes nothing.
    if (event.streamVersion <= current.version) continue;
    folded.set(id, {
      state: evolveSchedule(current.state, toScheduleEvent(event)),
      version: event.streamVersion,
      lastPosition: event.globalPosition,
    });
  }
  for (const [id, { state, version, lastPosition }] of folded) {
    if (state.status === 'initial' || lastPosition === 0) continue;
    await sql`
      insert into ${sql.table(table)}
        (id, tenant, status, name, created_at, next_slot_at, state, version, last_position)
      values (${id}, ${state.tenant}, ${state.status}, ${state.definition.name ?? null}, ${state.createdAt},
        ${nextSlotAt(state)}, ${JSON.stringify(state)}::jsonb, ${version}, ${lastPosition})
      on conflict (id) do update set
        tenant = excluded.tenant, status = excluded.status, name = excluded.name,
        next_slot_at = excluded.next_slot_at, state = excluded.state, version = excluded.version,
        last_position = excluded.last_position
    `.execute(db);
  }
}

/** The schedules read model: one row per schedule, its folded state and when it next has a slot. */
export const schedulesProjection: Projection = {
  name: 'schedules',
  checkpointId: 'projection:schedules',
  table: 'schedules',
  types: scheduleEventTypes,
  streamPrefix: scheduleStreamPrefix,
  apply: applyScheduleEvents,
};
