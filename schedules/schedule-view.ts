import type { ScheduleState } from './schedule.state.ts';
import { nextSlotAt } from './schedules.projection.ts';

export const scheduleLinks = (id: string) => ({ self: `/v1/schedules/${id}` });

/** The schedule as a client sees it: its definition flattened, when it fires next, what it fired last. */
export function toScheduleView(state: Exclude<ScheduleState, { status: 'initial' }>) {
  const { definition } = state;
  const { spec } = definition;
  return {
    id: state.id,
    name: definition.name ?? null,
    status: state.status,
    cron: 'cron' in definition.timing ? definition.timing.cron : null,
    timeZone: 'cron' in definition.timing ? definition.timing.timeZone : null,
    intervalMs: 'intervalMs' in definition.timing ? definition.timing.intervalMs : null,
    catchUp: definition.catchUp,
    maxCatchUp: definition.maxCatchUp,
    overlap: definition.overlap,
    startAt: definition.startAt,
    job: {
      image: spec.image,
      command: spec.command,
      limits: spec.limits,
      timeoutMs: spec.timeoutMs,
      labels: spec.labels ?? {},
    },
    nextSlotAt: nextSlotAt(state),
    lastFired: state.lastFired ?? null,
    firedCount: state.firedCount,
    skippedCount: state.skippedCount,
    recent: state.recent,
    createdBy: state.createdBy ?? null,
    createdAt: state.createdAt,
    updatedAt: state.updatedAt,
    links: scheduleLinks(state.id),
  };
}

export type ScheduleView = ReturnType<typeof toScheduleView>;
