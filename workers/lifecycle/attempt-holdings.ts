import { createCoalescer } from '../../events/coalescer.ts';
import type { AttemptHoldings } from '../run-job.processor.ts';
import type { HeldAttempt, WorkerLeases } from './worker-leases.ts';

/** At most this many attempts' holds (or drops) go in one statement. */
const maxGroupSize = 256;

/**
 * How long a drop waits to share its statement with the drops after it. A hold left a little
 * longer harms nothing: the reconciler judges holds only of attempts the log says are running, and
 * lets one go unheld for 30 s before it acts. At 8 worker slots a drop was a statement per 2-4 jobs.
 */
export const dropDelayMs = 100;

const keyOf = ({ jobId, attempt }: HeldAttempt) => `${jobId}-${attempt}`;

export interface AttemptHoldingsOptions {
  /** Told when a group of drops failed; they are tried again with the next. */
  readonly onDropError?: (error: unknown) => void;
}

/**
 * A worker's holds on its attempts, written in groups: every slot of a busy worker holds and drops
 * an attempt per job, and each was a statement and a commit of its own (two of the few commits a
 * job costs). Holds made while one is in flight go together in the next statement, so a lone
 * attempt waits for nothing and 32 slots share a commit. A hold resolves once its row is written
 * (the worker writes it while the start is appended; see holdWhileStarting). Drops are gathered for `dropDelayMs`; a hold of an attempt
 * whose drop is still waiting takes it back, and one whose drop is being written waits for it, so
 * a drop never removes a hold made after it.
 */
export function createAttemptHoldings(
  leases: WorkerLeases,
  workerId: string,
  options: AttemptHoldingsOptions = {},
): AttemptHoldings {
  const hold = createCoalescer<HeldAttempt, void>(
    async (group) => {
      try {
        await leases.hold(
          workerId,
          group.map((waiting) => waiting.request),
        );
        for (const waiting of group) waiting.resolve();
      } catch (error) {
        for (const waiting of group) waiting.reject(error);
      }
    },
    { maxGroupSize, maxInFlight: 1 },
  );

  // Drops not yet sent, each with the callers waiting for it to be written (or tried once).
  const waitingDrops = new Map<string, { attempt: HeldAttempt; written: (() => void)[] }>();
  // The drops being written now, and the statement writing them.
  let sending: { keys: ReadonlySet<string>; done: Promise<void> } | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const sendDrops = async (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    // One statement at a time: the one in flight schedules the drops gathered meanwhile.
    if (sending) return;
    const batch = [...waitingDrops.entries()].slice(0, maxGroupSize);
    for (const [key] of batch) waitingDrops.delete(key);
    const done = leases
      .drop(
        workerId,
        batch.map(([, entry]) => entry.attempt),
      )
      .then(
        () => {
          for (const [, entry] of batch) for (const written of entry.written) written();
        },
        (error: unknown) => {
          options.onDropError?.(error);
          // Its callers are answered (a drop is never worth waiting out an outage for); the drop
          // is tried again with the next ones, unless the attempt was held again meanwhile.
          for (const [key, entry] of batch) {
            for (const written of entry.written) written();
            if (!waitingDrops.has(key)) waitingDrops.set(key, { attempt: entry.attempt, written: [] });
          }
        },
      );
    sending = { keys: new Set(batch.map(([key]) => key)), done };
    await done;
    sending = undefined;
    if (waitingDrops.size > 0) schedule();
  };
  const schedule = () => {
    if (timer) return;
    timer = setTimeout(() => void sendDrops(), dropDelayMs);
    // A worker's stop deletes all its holds (its lease rows): nothing here must keep it alive.
    timer.unref();
  };

  return {
    async hold(jobId, attempt) {
      const key = keyOf({ jobId, attempt });
      const waiting = waitingDrops.get(key);
      if (waiting) {
        // Held again before its drop went: the drop is void, and its row stays as written.
        waitingDrops.delete(key);
        for (const written of waiting.written) written();
      }
      if (sending?.keys.has(key)) await sending.done;
      await hold({ jobId, attempt });
    },
    drop(jobId, attempt) {
      const key = keyOf({ jobId, attempt });
      return new Promise<void>((resolve) => {
        const entry = waitingDrops.get(key) ?? { attempt: { jobId, attempt }, written: [] };
        entry.written.push(resolve);
        waitingDrops.set(key, entry);
        if (waitingDrops.size >= maxGroupSize && !sending) void sendDrops();
        else schedule();
      });
    },
  };
}
