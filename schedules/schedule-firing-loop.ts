import { createWakeableSleep } from '../events/wakeable-sleep.ts';
import { createScheduleFiring, type FiringRound, type ScheduleFiringDeps } from './schedule-firing.ts';

export interface ScheduleFiringLoopDeps extends ScheduleFiringDeps {
  /** Rounds run only while this says so: the active dispatcher's lock (`dispatcher.isOwner()`). */
  readonly isActive: () => boolean;
  /** Pause between rounds; default 250 ms, so a slot fires within a quarter second of its time. */
  readonly intervalMs?: number;
  readonly onError?: (error: unknown) => void;
  readonly onRound?: (round: FiringRound) => void;
}

export interface RunningScheduleFiring {
  /** Ends the loop after the round in progress. */
  stop(): Promise<void>;
}

/** Fires due slots round after round while `isActive()` holds; a failed round is reported and retried. */
export function startScheduleFiringLoop(deps: ScheduleFiringLoopDeps): RunningScheduleFiring {
  // A schedule that fails is reported and the round goes on; the next round tries it again.
  const firing = createScheduleFiring({
    ...deps,
    onScheduleError: deps.onScheduleError ?? ((error) => deps.onError?.(error)),
  });
  const sleep = createWakeableSleep();
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      if (deps.isActive()) {
        try {
          const round = await firing.fireDue();
          deps.onRound?.(round);
        } catch (error) {
          deps.onError?.(error);
        }
      }
      if (!stopped) await sleep.sleep(deps.intervalMs ?? 250);
    }
  })();
  return {
    async stop() {
      stopped = true;
      sleep.wake();
      await done;
    },
  };
}
