import type { ScheduleDefinition, ScheduleEvent } from '../schemas/schedule-events.schema.ts';
import { evolveSchedule } from './schedule.evolve.ts';
import { initialScheduleState, type ScheduleState } from './schedule.state.ts';
import { ScheduleDomainError } from './schedule-domain-error.ts';
import { slotClock } from './schedule-slots.ts';
import { slotJobId } from './slot-job-id.ts';

/**
 * The newest due slot fires as on time when it is at most this old; older due slots (and every
 * due slot but the newest) were missed and follow the catch-up policy.
 */
export const onTimeWindowMs = 60_000;

/** A skip over a missed range counts its slots up to this many (cron steps cost a millisecond each). */
export const missedCountCap = 1_000;

export type ScheduleCommand =
  | { readonly type: 'CreateSchedule'; readonly definition: ScheduleDefinition }
  | {
      readonly type: 'ChangeSchedule';
      /** The whole definition after the change (the caller merged the client's fields). */
      readonly definition: ScheduleDefinition;
      readonly now: Date;
    }
  | { readonly type: 'PauseSchedule' }
  | { readonly type: 'ResumeSchedule'; readonly now: Date }
  | { readonly type: 'DeleteSchedule' }
  | {
      readonly type: 'FireDueSlots';
      readonly now: Date;
      /** Whether the job of the last fired slot has not finished yet (queued or running). */
      readonly previousJobActive: boolean;
    };

type Existing = Exclude<ScheduleState, { status: 'initial' }>;

function existing(state: ScheduleState): Existing & { status: 'active' | 'paused' } {
  if (state.status === 'initial' || state.status === 'deleted') {
    throw new ScheduleDomainError('schedule-not-found', 'no such schedule');
  }
  return state as Existing & { status: 'active' | 'paused' };
}

const iso = (instant: number) => new Date(instant).toISOString();

/** The slots due at `now`: a skip for the missed ones the policy drops, then the ones to fire, oldest first. */
function dueSlots(state: Existing, now: number) {
  const { definition } = state;
  const clock = slotClock(definition.timing, definition.startAt);
  const after = Date.parse(state.after);
  const [newest] = clock.latestUpTo(now, after, 1);
  if (newest === undefined) return { missed: undefined, fire: [] };
  const onTime = now - newest <= onTimeWindowMs ? newest : undefined;
  const keep = { skip: 0, 'run-once': 1, 'run-all': definition.maxCatchUp }[definition.catchUp];
  // Newest first; one more than kept says whether any older missed slot is dropped.
  const late = clock.latestUpTo(onTime === undefined ? now : newest - 1, after, keep + 1);
  const dropped = late[keep];
  const first = clock.nextAfter(after);
  const missed =
    dropped === undefined || first === undefined
      ? undefined
      : { first, last: dropped, count: clock.countBetween(after, dropped, missedCountCap) };
  const fire = [
    ...late
      .slice(0, keep)
      .reverse()
      .map((slot) => ({ slot, late: true })),
    ...(onTime === undefined ? [] : [{ slot: onTime, late: false }]),
  ];
  return { missed, fire };
}

function fireDueSlots(state: Existing, now: Date, previousJobActive: boolean): ScheduleEvent[] {
  if (state.status !== 'active') return [];
  const { missed, fire } = dueSlots(state, now.getTime());
  const events: ScheduleEvent[] = [];
  if (missed) {
    events.push({
      type: 'ScheduleSlotSkipped',
      data: {
        slot: iso(missed.last),
        firstSlot: iso(missed.first),
        ...(missed.count === undefined ? {} : { count: missed.count }),
        reason: 'missed',
      },
    });
  }
  // The job that may still run when a slot comes: the last one fired, or one fired just before in this batch.
  let running = previousJobActive ? state.lastFired?.jobId : undefined;
  for (const { slot, late } of fire) {
    const at = iso(slot);
    if (running !== undefined && state.definition.overlap === 'skip-if-running') {
      events.push({
        type: 'ScheduleSlotSkipped',
        data: { slot: at, firstSlot: at, count: 1, reason: 'overlap', runningJobId: running },
      });
      continue;
    }
    const jobId = slotJobId(state.id, at);
    const cancels = state.definition.overlap === 'cancel-previous' ? running : undefined;
    events.push({
      type: 'ScheduleFired',
      data: { slot: at, jobId, late, ...(cancels === undefined ? {} : { cancelledJobId: cancels }) },
    });
    running = jobId;
  }
  return events;
}

/** Decides which events a command produces in the given state. Pure; throws ScheduleDomainError to refuse. */
function decide(command: ScheduleCommand, state: ScheduleState): ScheduleEvent[] {
  switch (command.type) {
    case 'CreateSchedule':
      if (state.status !== 'initial') {
        throw new ScheduleDomainError('schedule-exists', 'the schedule was already created');
      }
      return [{ type: 'ScheduleCreated', data: command.definition }];

    case 'ChangeSchedule': {
      const current = existing(state);
      // Nothing differs: nothing to record (a client repeating its PATCH).
      if (JSON.stringify(current.definition) === JSON.stringify(command.definition)) return [];
      return [
        { type: 'ScheduleChanged', data: { ...command.definition, effectiveAt: command.now.toISOString() } },
      ];
    }

    case 'PauseSchedule':
      return existing(state).status === 'paused' ? [] : [{ type: 'SchedulePaused', data: {} }];

    case 'ResumeSchedule':
      return existing(state).status === 'active'
        ? []
        : [{ type: 'ScheduleResumed', data: { resumedAt: command.now.toISOString() } }];

    case 'DeleteSchedule':
      existing(state);
      return [{ type: 'ScheduleDeleted', data: {} }];

    case 'FireDueSlots':
      if (state.status === 'initial') throw new ScheduleDomainError('schedule-not-found', 'no such schedule');
      return fireDueSlots(state, command.now, command.previousJobActive);

    default: {
      const unhandled: never = command;
      throw new Error(`unknown schedule command ${(unhandled as { type: string }).type}`);
    }
  }
}

/** The schedule aggregate as one decider: `decide`, `evolve`, `initialState`, all pure. */
export const scheduleDecider = {
  decide,
  evolve: evolveSchedule,
  initialState: initialScheduleState,
} as const;
