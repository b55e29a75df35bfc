import { createCoalescer } from '../../events/coalescer.ts';
import type { AttemptHoldings } from '../run-job.processor.ts';
import type { HeldAttempt, WorkerLeases } from './worker-leases.ts';

/** At most this many attempts' holds go in one statement. */
const maxGroupSize = 256;

/**
 * A worker's holds on its attempts, written in groups: every slot of a busy worker holds and drops
 * an attempt per job, and each was a statement and a commit of its own (two of the few commits a
 * job costs). Holds and drops made while one is in flight go together in the next statement, so a
 * lone attempt waits for nothing and 32 slots share a commit. A hold still resolves only once its
 * row is written, before the start is appended.
 */
export function createAttemptHoldings(leases: WorkerLeases, workerId: string): AttemptHoldings {
  const grouped = (write: (attempts: readonly HeldAttempt[]) => Promise<void>) =>
    createCoalescer<HeldAttempt, void>(
      async (group) => {
        try {
          await write(group.map((waiting) => waiting.request));
          for (const waiting of group) waiting.resolve();
        } catch (error) {
          for (const waiting of group) waiting.reject(error);
        }
      },
      { maxGroupSize, maxInFlight: 1 },
    );
  const hold = grouped((attempts) => leases.hold(workerId, attempts));
  const drop = grouped((attempts) => leases.drop(workerId, attempts));
  return {
    hold: (jobId, attempt) => hold({ jobId, attempt }),
    drop: (jobId, attempt) => drop({ jobId, attempt }),
  };
}
