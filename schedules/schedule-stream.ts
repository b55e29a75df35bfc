import type { Kysely } from 'kysely';
import {
  createEventStore,
  type EventMetadata,
  type EventStore,
  type RecordedEvent,
} from '../events/event-store.ts';
import type { Database } from '../events/tables.ts';
import {
  type ScheduleEvent,
  type ScheduleEventType,
  scheduleEventSchemas,
} from '../schemas/schedule-events.schema.ts';
import { type ScheduleCommand, scheduleDecider } from './schedule.decider.ts';
import { foldSchedule, type ScheduleEventEnvelope, scheduleStreamPrefix } from './schedule.evolve.ts';
import type { ScheduleState } from './schedule.state.ts';
import type { SchedulesTable } from './schedules.table.ts';

export { scheduleStreamPrefix };

/** The stream holding one schedule's history. */
export const scheduleStreamId = (scheduleId: string): string => `${scheduleStreamPrefix}${scheduleId}`;

export const isScheduleEventType = (type: string): type is ScheduleEventType =>
  Object.hasOwn(scheduleEventSchemas, type);

/** Parses a stored event into the domain's shape; storage is a trust boundary. */
export function toScheduleEvent(recorded: RecordedEvent): ScheduleEventEnvelope {
  if (!isScheduleEventType(recorded.type)) {
    throw new Error(`event ${recorded.eventId} has unknown type ${recorded.type}`);
  }
  const data = scheduleEventSchemas[recorded.type].data.parse(recorded.data);
  const { actor, tenant } = recorded.metadata;
  return {
    type: recorded.type,
    data,
    streamId: recorded.streamId,
    recordedAt: recorded.recordedAt,
    ...(typeof actor === 'string' ? { actor } : {}),
    ...(typeof tenant === 'string' ? { tenant } : {}),
  } as ScheduleEventEnvelope;
}

export interface LoadedSchedule {
  readonly state: ScheduleState;
  /** The stream's version: the expected version for the next append. */
  readonly version: number;
}

/** A schedule whose stream does not exist yet (a freshly generated id). */
export const newSchedule: LoadedSchedule = { state: scheduleDecider.initialState(), version: 0 };

/** The schedule's events after stream version `after`, parsed, in order. */
export async function scheduleEventsAfter(
  db: Kysely<Database>,
  scheduleId: string,
  after: number,
): Promise<(ScheduleEventEnvelope & { readonly streamVersion: number })[]> {
  // Through the store, so the columns, the upcasters and the recorded positions are the log's own.
  const store = createEventStore(db, {
    schemas: scheduleEventSchemas,
    groupCommit: false,
    groupReads: false,
  });
  const events = await store.readStreamAfter(scheduleStreamId(scheduleId), after);
  return events.map((event) => ({ ...toScheduleEvent(event), streamVersion: event.streamVersion }));
}

/**
 * The schedule as its stream has it now: the read model's row (a snapshot at its version) with
 * the stream's later events folded on. A schedule firing every second has a long stream; this
 * reads only what the projection has not folded yet.
 */
export async function loadSchedule(db: Kysely<Database>, scheduleId: string): Promise<LoadedSchedule> {
  const snapshot = await db
    .withTables<{ schedules: SchedulesTable }>()
    .selectFrom('schedules')
    .select(['state', 'version'])
    .where('id', '=', scheduleId)
    .executeTakeFirst();
  const from = snapshot?.version ?? 0;
  const tail = await scheduleEventsAfter(db, scheduleId, from);
  return {
    state: foldSchedule(snapshot?.state ?? scheduleDecider.initialState(), tail),
    version: tail.at(-1)?.streamVersion ?? from,
  };
}

/** The events a command decided, as the store appends them. */
export const toNewEvents = (events: readonly ScheduleEvent[], metadata: EventMetadata) =>
  events.map((event) => ({
    type: event.type,
    schemaVersion: scheduleEventSchemas[event.type].version,
    data: event.data,
    metadata,
  }));

/**
 * Decides on the schedule as loaded and appends at that version. A concurrent writer surfaces as
 * a ConcurrencyError, never as a silent retry: the caller decides what a conflict means.
 * `beforeAppend` does the decision's effects first (the firer submits the slots' jobs), so a crash
 * between the two leaves a job the retry finds under the same id, never a slot recorded unfired.
 */
export async function executeScheduleCommand(
  store: EventStore,
  scheduleId: string,
  command: ScheduleCommand,
  metadata: EventMetadata,
  loaded: LoadedSchedule,
  beforeAppend?: (events: readonly ScheduleEvent[]) => Promise<void>,
): Promise<{ readonly events: readonly ScheduleEvent[]; readonly version: number }> {
  const events = scheduleDecider.decide(command, loaded.state);
  if (events.length === 0) return { events, version: loaded.version };
  await beforeAppend?.(events);
  const result = await store.append(
    scheduleStreamId(scheduleId),
    loaded.version,
    toNewEvents(events, metadata),
  );
  return { events, version: result.nextExpectedVersion };
}
