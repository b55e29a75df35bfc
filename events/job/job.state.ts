import type { ResolvedJobSpec } from '../../schemas/job-spec.schema.ts';
import type { FailureReason } from '../../schemas/job-events.schema.ts';

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
  readonly finishedAt: Date;
}

interface Known {
  readonly spec: ResolvedJobSpec;
  readonly submittedAt: Date;
  readonly submittedBy?: string;
  /** The tenant that owns the job; every read is scoped to it. */
  readonly tenant: string;
}

/** The job aggregate, keyed on `status`; folded from the job's events by `evolve`. */
export type JobState =
  | { readonly status: 'initial' }
  | (Known & { readonly status: 'queued'; readonly attempt: number })
  | (Known & { readonly status: 'running'; readonly attempt: number; readonly current: AttemptRecord })
  | (Known & { readonly status: 'succeeded'; readonly attempt: number; readonly current: AttemptRecord; readonly outcome: RunOutcome })
  | (Known & {
      readonly status: 'failed';
      readonly attempt: number;
      readonly current?: AttemptRecord;
      readonly outcome: RunOutcome;
      readonly reason: FailureReason;
      readonly message?: string;
    });

export type JobStatus = JobState['status'];

export const initialJobState = (): JobState => ({ status: 'initial' });
