import type { ScheduleDefinition, SlotSkipReason } from '../schemas/schedule-events.schema.ts';

/** One slot's outcome, as the schedule's view lists its latest ones. */
export interface SlotRecord {
  readonly slot: string;
  readonly outcome: 'fired' | 'skipped';
  readonly jobId?: string;
  readonly late?: boolean;
  readonly reason?: SlotSkipReason;
  /** How many slots a skip stands for (a missed range), when counted. */
  readonly count?: number;
}

/** The schedule statuses a client sees; `deleted` ones answer 404 and fire nothing. */
export type ScheduleStatus = 'active' | 'paused' | 'deleted';

interface Known {
  readonly id: string;
  /** The tenant that owns the schedule and every job it submits; each read is scoped to it. */
  readonly tenant: string;
  readonly createdBy?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly definition: ScheduleDefinition;
  /**
   * The firing cursor: slots strictly after this instant are still to come. A fired or skipped
   * slot moves it; so does a resume (slots that fell while paused never fire) or a new timing.
   */
  readonly after: string;
  readonly lastFired?: { readonly slot: string; readonly jobId: string };
  readonly firedCount: number;
  /** Slots that passed without a job (a missed range too long to count adds one). */
  readonly skippedCount: number;
  /** The latest outcomes, newest last, at most `recentSlotsKept`. */
  readonly recent: readonly SlotRecord[];
}

/**
 * The schedule aggregate keyed on `status`, folded by `evolve`; every instant an ISO string, so
 * the state is plain JSON and the read model keeps it as it is (a snapshot to fold the tail onto).
 */
export type ScheduleState = { readonly status: 'initial' } | (Known & { readonly status: ScheduleStatus });

export const recentSlotsKept = 10;

export const initialScheduleState = (): ScheduleState => ({ status: 'initial' });
