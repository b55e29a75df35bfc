import type { FailureReason, RefusedOutputReason } from '../schemas/job-events.schema.ts';
import type { ResolvedJobSpec } from '../schemas/job-spec.schema.ts';
import { isTerminalJobStatus, type JobStatus } from '../schemas/job-status.schema.ts';
import type { RecordList } from './record-list.ts';

export interface AttemptRecord {
  readonly attempt: number;
  readonly workerId: string;
  readonly imageId?: string;
  readonly startedAt: Date;
}

export interface RunOutcome {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly outputTruncated: boolean;
  readonly durationMs: number;
  readonly peakMemoryBytes?: number;
  readonly runtime?: string;
  readonly sandboxPath?: 'warm' | 'cold';
  readonly oom?: boolean;
  readonly finishedAt: Date;
}

/** A declared output kept from an attempt; downloadable while its file exists. */
export interface ArtifactRecord {
  readonly attempt: number;
  readonly fileId: string;
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  readonly contentType: string;
}

export interface RefusedOutputRecord {
  readonly attempt: number;
  readonly path: string;
  readonly reason: RefusedOutputReason;
  readonly detail?: string;
}

interface Known {
  readonly spec: ResolvedJobSpec;
  readonly submittedAt: Date;
  readonly submittedBy?: string;
  /** The tenant that owns the job; every read is scoped to it. */
  readonly tenant: string;
  /**
   * Every attempt's artifacts and refused outputs, oldest first (`recordsOf` lists them); absent
   * until the first one. Not arrays: appending to one per event would make folding quadratic.
   */
  readonly artifacts?: RecordList<ArtifactRecord>;
  readonly refusedOutputs?: RecordList<RefusedOutputRecord>;
}

/** What a job holds in each status, beyond what every submitted job holds. */
interface StatusDetails {
  readonly queued: {
    readonly attempt: number;
    /** Not before: a delayed job's runAt, a retry's due time. */
    readonly dueAt?: Date;
    /** The queue-wait deadline: not started by then, the attempt expires. */
    readonly expiresAt?: Date;
  };
  readonly running: { readonly attempt: number; readonly current: AttemptRecord };
  readonly succeeded: {
    readonly attempt: number;
    readonly current: AttemptRecord;
    readonly outcome: RunOutcome;
  };
  readonly failed: {
    readonly attempt: number;
    readonly current?: AttemptRecord;
    /** Absent when the attempt was abandoned: it never reported one. */
    readonly outcome?: RunOutcome;
    /** What failed the last attempt, or `abandoned`: its worker vanished or shut down for good. */
    readonly reason: FailureReason | 'abandoned';
    readonly message?: string;
  };
  readonly cancelled: {
    readonly attempt: number;
    readonly cancelledAt: Date;
    readonly cancelledBy?: string;
    readonly reason?: string;
  };
  readonly expired: { readonly attempt: number; readonly expiredAt: Date };
}

/**
 * The job aggregate, keyed on `status`; folded from the job's events by `evolve`. One variant per
 * status of the schema (a status without its details above fails the type check), and `initial`:
 * no job yet.
 */
export type JobState =
  | { readonly status: 'initial' }
  | { [Status in JobStatus]: Known & { readonly status: Status } & StatusDetails[Status] }[JobStatus];

/** States no worker will move on; only an operator's re-run (failed, cancelled, expired) leaves them. */
export const isTerminal = (state: JobState): boolean => isTerminalJobStatus(state.status);

export const initialState = (): JobState => ({ status: 'initial' });
