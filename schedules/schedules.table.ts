import type { Selectable } from 'kysely';
import type { ScheduleState } from './schedule.state.ts';

/**
 * The schedules read model (migration 0070). Like the jobs table it is not in the event store's
 * `Database`: its readers add it with `db.withTables<{ schedules: SchedulesTable }>()`.
 */
export interface SchedulesTable {
  readonly id: string;
  readonly tenant: string;
  readonly status: 'active' | 'paused' | 'deleted';
  readonly name: string | null;
  readonly created_at: Date;
  /** When the schedule next has a slot; null when paused, deleted, or no slot is left. */
  readonly next_slot_at: Date | null;
  /** The schedule folded up to `version`. */
  readonly state: Exclude<ScheduleState, { status: 'initial' }>;
  readonly version: number;
  readonly last_position: number;
}

export type SchedulesRow = Selectable<SchedulesTable>;
