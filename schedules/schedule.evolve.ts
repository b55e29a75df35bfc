import type { ScheduleDefinition, ScheduleEvent } from '../schemas/schedule-events.schema.ts';
import { recentSlotsKept, type ScheduleState, type SlotRecord } from './schedule.state.ts';

/** A schedule event with what the log records around it. */
export type ScheduleEventEnvelope = ScheduleEvent & {
  readonly streamId: string;
  readonly recordedAt: Date;
  readonly actor?: string;
  readonly tenant?: string;
};

export const scheduleStreamPrefix = 'schedule-';

/** A schedule without a tenant in its metadata belongs to the default one, as a job does. */
const defaultTenant = 'default';

const later = (a: string, b: string) => (Date.parse(a) >= Date.parse(b) ? a : b);
const justBefore = (instant: string) => new Date(Date.parse(instant) - 1).toISOString();

const sameTiming = (a: ScheduleDefinition, b: ScheduleDefinition) =>
  a.startAt === b.startAt && JSON.stringify(a.timing) === JSON.stringify(b.timing);

const withRecent = (recent: readonly SlotRecord[], record: SlotRecord) => [
  ...recent.slice(-(recentSlotsKept - 1)),
  record,
];

/** Folds one event into the schedule. Pure; an event that cannot apply to the status is ignored. */
export function evolveSchedule(state: ScheduleState, event: ScheduleEventEnvelope): ScheduleState {
  const at = event.recordedAt.toISOString();
  if (event.type === 'ScheduleCreated') {
    if (state.status !== 'initial') return state;
    return {
      status: 'active',
      id: event.streamId.slice(scheduleStreamPrefix.length),
      tenant: event.tenant ?? defaultTenant,
      ...(event.actor === undefined ? {} : { createdBy: event.actor }),
      createdAt: at,
      updatedAt: at,
      definition: event.data,
      after: justBefore(event.data.startAt),
      firedCount: 0,
      skippedCount: 0,
      recent: [],
    };
  }
  if (state.status === 'initial' || state.status === 'deleted') return state;
  switch (event.type) {
    case 'ScheduleChanged': {
      const { effectiveAt, ...definition } = event.data;
      // A new timing starts afresh: none of its slots before the change fire (nor are they missed).
      const after = sameTiming(state.definition, definition)
        ? state.after
        : later(state.after, justBefore(later(effectiveAt, definition.startAt)));
      return { ...state, definition, after, updatedAt: at };
    }
    case 'SchedulePaused':
      return { ...state, status: 'paused', updatedAt: at };
    case 'ScheduleResumed':
      return { ...state, status: 'active', after: later(state.after, event.data.resumedAt), updatedAt: at };
    case 'ScheduleDeleted':
      return { ...state, status: 'deleted', updatedAt: at };
    case 'ScheduleFired': {
      const { slot, jobId, late } = event.data;
      return {
        ...state,
        after: later(state.after, slot),
        lastFired: { slot, jobId },
        firedCount: state.firedCount + 1,
        recent: withRecent(state.recent, { slot, outcome: 'fired', jobId, late }),
      };
    }
    case 'ScheduleSlotSkipped': {
      const { slot, reason, count } = event.data;
      return {
        ...state,
        after: later(state.after, slot),
        skippedCount: state.skippedCount + (count ?? 1),
        recent: withRecent(state.recent, {
          slot,
          outcome: 'skipped',
          reason,
          ...(count === undefined ? {} : { count }),
        }),
      };
    }
    default: {
      const unhandled: never = event;
      throw new Error(`unknown schedule event ${(unhandled as { type: string }).type}`);
    }
  }
}

/** Folds a history onto a state (the initial one, or a snapshot of the read model). */
export const foldSchedule = (state: ScheduleState, events: readonly ScheduleEventEnvelope[]): ScheduleState =>
  events.reduce(evolveSchedule, state);
