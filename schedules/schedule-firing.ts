import type { Kysely } from 'kysely';
import type { EventMetadata, EventStore } from '../events/event-store.ts';
import { ConcurrencyError } from '../events/event-store-errors.ts';
import type { Database } from '../events/tables.ts';
import { JobDomainError } from '../jobs/job-domain-error.ts';
import { executeJobCommand, loadJob, newJob } from '../jobs/job-stream.ts';
import type { ScheduleEvent } from '../schemas/schedule-events.schema.ts';
import type { ScheduleState } from './schedule.state.ts';
import { executeScheduleCommand, loadSchedule, scheduleEventsAfter } from './schedule-stream.ts';
import type { SchedulesTable } from './schedules.table.ts';

export interface ScheduleFiringDeps {
  readonly db: Kysely<Database>;
  /** An event store that checks every append against the read schemas. */
  readonly store: EventStore;
  /** The clock slots are judged by; injectable so tests can move through an hour in a moment. */
  readonly now?: () => Date;
  /** The most due schedules one round handles (the rest wait for the next round). */
  readonly batchSize?: number;
  /** Who the schedule events name as their writer. */
  readonly actor?: string;
  /**
   * Told of a schedule that failed to fire (its stream unreadable, a job refused); the round goes on
   * with the others. Absent: the failure ends the round, thrown to the caller.
   */
  readonly onScheduleError?: (error: unknown, scheduleId: string) => void;
}

/** What one round did, for logs and tests. */
export interface FiringRound {
  readonly fired: number;
  readonly skipped: number;
  /** Schedules another firer appended to first (its events stand; this round's are dropped). */
  readonly conflicts: number;
}

type Active = Exclude<ScheduleState, { status: 'initial' }>;
type Fired = Extract<ScheduleEvent, { type: 'ScheduleFired' }>;

const isActiveJob = async (store: EventStore, jobId: string) => {
  const { state } = await loadJob(store, jobId);
  return state.status === 'queued' || state.status === 'running';
};

/** Whether the error only says the job is already where this firer wants it (a retry after a crash). */
const alreadyDone = (error: unknown) => error instanceof ConcurrencyError || error instanceof JobDomainError;

/**
 * Fires due slots. For each due schedule: load it (the read model's snapshot plus the stream's
 * tail), decide, submit each slot's job under its deterministic id (a second firer, or this one
 * after a crash, meets the same id at version 0 and submits nothing new), cancel the previous job
 * when the overlap policy says so, then append the schedule's events at the version it read. A
 * firer that loses that race appended nothing: the slot is recorded fired once.
 */
export function createScheduleFiring(deps: ScheduleFiringDeps) {
  const now = deps.now ?? (() => new Date());
  const schedules = deps.db.withTables<{ schedules: SchedulesTable }>();

  async function submitSlotJob(state: Active, fired: Fired, at: Date): Promise<void> {
    const { slot, jobId, cancelledJobId } = fired.data;
    // The job is the schedule owner's, in the schedule's tenant: tenant limits apply as to any job.
    const metadata: EventMetadata = {
      ...(state.createdBy === undefined ? {} : { actor: state.createdBy }),
      tenant: state.tenant,
      correlationId: state.id,
      scheduleId: state.id,
      slot,
    };
    const spec = { ...state.definition.spec, schedule: { id: state.id, slot } };
    await executeJobCommand(deps.store, jobId, { type: 'SubmitJob', spec, now: at }, metadata, newJob).catch(
      (error: unknown) => {
        if (!alreadyDone(error)) throw error;
      },
    );
    if (cancelledJobId === undefined) return;
    const reason = `schedule ${state.id}: slot ${slot} came while it ran (overlap: cancel-previous)`;
    await executeJobCommand(deps.store, cancelledJobId, { type: 'CancelJob', reason }, metadata).catch(
      (error: unknown) => {
        // Finished meanwhile, or cancelled by the other firer: either way it no longer runs.
        if (!alreadyDone(error)) throw error;
      },
    );
  }

  /** Fires what is due of one schedule; returns the events it appended (none after a lost race). */
  async function fireSchedule(
    scheduleId: string,
    at: Date = now(),
  ): Promise<readonly ScheduleEvent[] | 'conflict'> {
    const loaded = await loadSchedule(deps.db, scheduleId);
    const { state } = loaded;
    if (state.status !== 'active') return [];
    const previous = state.lastFired?.jobId;
    const previousJobActive = previous === undefined ? false : await isActiveJob(deps.store, previous);
    const submitted: Fired[] = [];
    // Decided once, here, so the jobs submitted are exactly the slots the appended events name.
    const { events } = await executeScheduleCommand(
      deps.store,
      scheduleId,
      { type: 'FireDueSlots', now: at, previousJobActive },
      {
        ...(deps.actor === undefined ? {} : { actor: deps.actor }),
        tenant: state.tenant,
        correlationId: scheduleId,
      },
      loaded,
      async (decided) => {
        for (const event of decided) {
          if (event.type !== 'ScheduleFired') continue;
          await submitSlotJob(state, event, at);
          submitted.push(event);
        }
      },
    ).catch(async (error: unknown) => {
      if (!(error instanceof ConcurrencyError)) throw error;
      await withdrawUnrecorded(state, loaded.version, submitted);
      return { events: 'conflict' as const };
    });
    return events;
  }

  /**
   * After a lost race: the winner decided at its own instant, and may have skipped a slot this
   * firer submitted a job for (late by its clock, say). A job whose slot the winner's cursor has
   * passed without firing it would never be recorded: it is cancelled, saying why. A slot still
   * ahead of the winner's cursor keeps its job; the winner will fire that slot under the same id.
   */
  async function withdrawUnrecorded(state: Active, version: number, submitted: readonly Fired[]) {
    if (submitted.length === 0) return;
    const later = await scheduleEventsAfter(deps.db, state.id, version);
    const recorded = new Set(
      later.flatMap((event) => (event.type === 'ScheduleFired' ? [event.data.jobId] : [])),
    );
    const { state: current } = await loadSchedule(deps.db, state.id);
    const passed = current.status === 'initial' ? Number.POSITIVE_INFINITY : Date.parse(current.after);
    const ended = current.status === 'deleted';
    for (const fired of submitted) {
      const { jobId, slot } = fired.data;
      if (recorded.has(jobId) || (!ended && Date.parse(slot) > passed)) continue;
      const reason = `schedule ${state.id}: slot ${slot} was recorded without this job by another firer`;
      await executeJobCommand(
        deps.store,
        jobId,
        { type: 'CancelJob', reason },
        { tenant: state.tenant },
      ).catch((cancelError: unknown) => {
        if (!alreadyDone(cancelError)) throw cancelError;
      });
    }
  }

  /** One round: every active schedule whose next slot is due, oldest due first. */
  async function fireDue(): Promise<FiringRound> {
    const at = now();
    const due = await schedules
      .selectFrom('schedules')
      .select('id')
      .where('status', '=', 'active')
      .where('next_slot_at', '<=', at)
      .orderBy('next_slot_at')
      .limit(deps.batchSize ?? 100)
      .execute();
    let fired = 0;
    let skipped = 0;
    let conflicts = 0;
    for (const { id } of due) {
      let events: Awaited<ReturnType<typeof fireSchedule>>;
      try {
        events = await fireSchedule(id, at);
      } catch (error) {
        // One broken schedule must not starve the others of their slots.
        if (!deps.onScheduleError) throw error;
        deps.onScheduleError(error, id);
        continue;
      }
      if (events === 'conflict') {
        conflicts += 1;
        continue;
      }
      for (const event of events) {
        if (event.type === 'ScheduleFired') fired += 1;
        else if (event.type === 'ScheduleSlotSkipped') skipped += 1;
      }
    }
    return { fired, skipped, conflicts };
  }

  return { fireDue, fireSchedule };
}

export type ScheduleFiring = ReturnType<typeof createScheduleFiring>;
