/**
 * How many attempts one worker reads, starts and runs at once (`WORKER_CONCURRENCY`). Recording an
 * attempt's result takes no slot: it is a wait on Postgres, not work for the machine, so the next
 * message is fetched while it commits (see RunSlotWorker).
 */
export interface RunSlots {
  /** A free slot, or undefined when all are taken (the caller fetches nothing then). */
  tryTake(): RunSlot | undefined;
  taken(): number;
  /** Resolves at the next release. */
  released(): Promise<void>;
}

export interface RunSlot {
  /** Idempotent: the paths out of an attempt may each release it. */
  release(): void;
}

export function createRunSlots(size: number): RunSlots {
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`run slots must be a positive integer, not ${size}`);
  let taken = 0;
  let waiters: Array<() => void> = [];
  return {
    tryTake() {
      if (taken >= size) return undefined;
      taken += 1;
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          taken -= 1;
          const woken = waiters;
          waiters = [];
          for (const wake of woken) wake();
        },
      };
    },
    taken: () => taken,
    released: () => new Promise<void>((resolve) => waiters.push(resolve)),
  };
}
