import { parseCron } from '../schemas/schedule-cron.ts';
import type { ScheduleTiming } from '../schemas/schedule-events.schema.ts';

/**
 * The instants a schedule's slots fall on. Every question is about instants in epoch
 * milliseconds, answered the same way each time (pure), so the decider and the read model agree.
 */
export interface SlotClock {
  /** The first slot strictly after `after`; undefined when there is none. */
  nextAfter(after: number): number | undefined;
  /** Up to `count` slots at or before `upTo` and strictly after `after`, newest first. */
  latestUpTo(upTo: number, after: number, count: number): number[];
  /** How many slots lie in (after, upTo]; undefined when counting would pass `cap` (cron only). */
  countBetween(after: number, upTo: number, cap: number): number | undefined;
}

function intervalClock(anchor: number, intervalMs: number): SlotClock {
  // Slot k falls at anchor + k × intervalMs, k ≥ 0: plain arithmetic, however many slots passed.
  const indexAtOrBefore = (instant: number) => Math.floor((instant - anchor) / intervalMs);
  const firstIndexAfter = (instant: number) => (instant < anchor ? 0 : indexAtOrBefore(instant) + 1);
  return {
    nextAfter: (after) => anchor + firstIndexAfter(after) * intervalMs,
    latestUpTo(upTo, after, count) {
      const slots: number[] = [];
      const lowest = firstIndexAfter(after);
      for (let index = indexAtOrBefore(upTo); index >= lowest && slots.length < count; index -= 1) {
        slots.push(anchor + index * intervalMs);
      }
      return slots;
    },
    // Exact however many: arithmetic costs nothing, so no cap applies.
    countBetween: (after, upTo) => Math.max(0, indexAtOrBefore(upTo) - firstIndexAfter(after) + 1),
  };
}

function cronClock(expression: string, timeZone: string, startAt: number): SlotClock {
  const cron = parseCron(expression, timeZone);
  // croner reads instants to the second: a slot is never earlier than startAt.
  const floor = startAt - 1;
  const nextAfter = (after: number) => cron.nextRun(new Date(Math.max(after, floor)))?.getTime();
  return {
    nextAfter,
    latestUpTo(upTo, after, count) {
      // previousRuns counts back from its reference and may include a run in the reference's own
      // second; asking from a second later and filtering keeps the bound exact.
      const lowest = Math.max(after, floor);
      return cron
        .previousRuns(count + 1, new Date(upTo + 1_000))
        .map((date) => date.getTime())
        .filter((slot) => slot <= upTo && slot > lowest)
        .slice(0, count);
    },
    countBetween(after, upTo, cap) {
      // croner takes about a millisecond per step: counting stops at the cap.
      let count = 0;
      for (let slot = nextAfter(after); slot !== undefined && slot <= upTo; slot = nextAfter(slot)) {
        count += 1;
        if (count > cap) return undefined;
      }
      return count;
    },
  };
}

/** The clock of a schedule's timing; an interval counts from `startAt`, a cron fires from it on. */
export function slotClock(timing: ScheduleTiming, startAt: string): SlotClock {
  const anchor = Date.parse(startAt);
  return 'cron' in timing
    ? cronClock(timing.cron, timing.timeZone, anchor)
    : intervalClock(anchor, timing.intervalMs);
}
