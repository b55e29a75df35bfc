import {
  type FailureReason,
  isPermanentFailure,
  type JobEvent,
  type RefusedOutputReason,
  type RetryReason,
} from '../schemas/job-events.schema.ts';
import type { ResolvedJobSpec } from '../schemas/job-spec.schema.ts';
import { capRefusals } from './attempt-caps.ts';
import { evolve } from './job.evolve.ts';
import { initialState, type JobState } from './job.state.ts';
import { JobDomainError } from './job-domain-error.ts';
import { scheduleRetry } from './retry-schedule.ts';

/** How a sandbox run ended, as the worker reports it. */
export interface AttemptResult {
  readonly reason: 'exited' | Exclude<FailureReason, 'exit-code'>;
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly outputTruncated: boolean;
  readonly durationMs: number;
  /** Highest memory use sampled while it ran, when the engine reported one. */
  readonly peakMemoryBytes?: number;
  /** Where it ran: the container runtime, and a container started ahead (warm) or for it (cold). */
  readonly runtime?: string;
  readonly sandboxPath?: 'warm' | 'cold';
  /** The OOM killer struck in the container. */
  readonly oom?: boolean;
  readonly message?: string;
  /** Declared outputs collected and stored, in the order they were found. */
  readonly artifacts?: readonly StoredArtifact[];
  /** Files under /out that matched a declared output but were not kept. */
  readonly refusedOutputs?: readonly RefusedOutput[];
}

export interface StoredArtifact {
  readonly fileId: string;
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  readonly contentType: string;
}

export interface RefusedOutput {
  readonly path: string;
  readonly reason: RefusedOutputReason;
  readonly detail?: string;
}

/** Time and randomness come in with the command, so deciding stays pure and replayable in tests. */
interface Clock {
  readonly now: Date;
  /** Uniform in [0, 1): the jitter of a retry's backoff. */
  readonly random: number;
}

export type JobCommand =
  | {
      readonly type: 'SubmitJob';
      readonly spec: ResolvedJobSpec;
      /** Not before (a delayed job). */
      readonly runAt?: Date;
      /** Queue-wait deadline; without one, `spec.queueTimeoutMs` after `runAt ?? now` (when given). */
      readonly expiresAt?: Date;
      readonly now?: Date;
    }
  | {
      readonly type: 'StartAttempt';
      readonly attempt: number;
      readonly workerId: string;
      readonly imageId?: string;
    }
  | ({ readonly type: 'CompleteAttempt'; readonly attempt: number; readonly result: AttemptResult } & Clock)
  | ({
      readonly type: 'AbandonAttempt';
      readonly attempt: number;
      /** Only the attempt this worker started is abandoned: a stale report about an older run is refused. */
      readonly workerId: string;
      readonly reason: 'worker-lost' | 'shutdown';
    } & Clock)
  | ({
      readonly type: 'InterruptAttempt';
      readonly attempt: number;
      /** Only the attempt this worker started is interrupted, as with AbandonAttempt. */
      readonly workerId: string;
      /** What of our infrastructure failed (the engine's address and error), kept on the retry for operators. */
      readonly cause: string;
    } & Clock)
  | { readonly type: 'CancelJob'; readonly reason?: string }
  | { readonly type: 'RetryJob'; readonly requestedBy: string; readonly comment?: string; readonly now: Date }
  | { readonly type: 'ExpireAttempt'; readonly attempt: number; readonly now: Date };

/** The retry after a failed attempt, if the job's policy grants one. */
/** Refuses a command about an attempt unless that attempt is the one running, on that worker. */
function assertRunningOn(
  state: JobState,
  command: { readonly attempt: number; readonly workerId: string },
): asserts state is Extract<JobState, { status: 'running' }> {
  if (
    state.status !== 'running' ||
    state.attempt !== command.attempt ||
    state.current.workerId !== command.workerId
  )
    throw new JobDomainError(
      'attempt-not-running',
      `attempt ${command.attempt} is not running on ${command.workerId}`,
    );
}

function retryAfter(state: JobState, attempt: number, reason: RetryReason, clock: Clock): JobEvent[] {
  if (state.status === 'initial') return [];
  const next = scheduleRetry(state.spec.retry, attempt, reason, clock.now, clock.random);
  if (!next) return [];
  return [
    {
      type: 'JobRetryScheduled',
      data: {
        attempt: next.attempt,
        dueAt: next.dueAt.toISOString(),
        reason,
        ...queueDeadline(state.spec, next.dueAt),
      },
    },
  ];
}

/** The least wait before an interrupted attempt runs again; the worker's outage gate does the rest. */
const interruptedRetryMs = 1_000;

/** The queue-wait deadline of an attempt that becomes due at `dueAt`. */
function queueDeadline(spec: ResolvedJobSpec, dueAt: Date): { expiresAt?: string } {
  return spec.queueTimeoutMs === undefined
    ? {}
    : { expiresAt: new Date(dueAt.getTime() + spec.queueTimeoutMs).toISOString() };
}

/** Decides which events a command produces in the given state. Pure; throws JobDomainError to refuse. */
function decide(command: JobCommand, state: JobState): JobEvent[] {
  switch (command.type) {
    case 'SubmitJob': {
      if (state.status !== 'initial') throw new JobDomainError('job-exists', 'the job was already submitted');
      const { spec, runAt, now } = command;
      const dueAt = runAt ?? now;
      const expiresAt =
        command.expiresAt?.toISOString() ?? (dueAt ? queueDeadline(spec, dueAt).expiresAt : undefined);
      const { retry, files, inputs, outputs, inputDirectories, ...rest } = spec;
      const copy = {
        ...rest,
        command: [...spec.command],
        env: { ...spec.env },
        ...(spec.secrets ? { secrets: { ...spec.secrets } } : {}),
        ...(files ? { files: files.map((file) => ({ ...file })) } : {}),
        ...(inputs ? { inputs: inputs.map((input) => ({ ...input })) } : {}),
        ...(outputs ? { outputs: [...outputs] } : {}),
        ...(inputDirectories ? { inputDirectories: [...inputDirectories] } : {}),
        ...(retry ? { retry: { ...retry, backoff: { ...retry.backoff }, on: [...retry.on] } } : {}),
      };
      return [
        {
          type: 'JobSubmitted',
          data: {
            spec: copy,
            ...(runAt === undefined ? {} : { runAt: runAt.toISOString() }),
            ...(expiresAt === undefined ? {} : { expiresAt }),
          },
        },
      ];
    }

    case 'StartAttempt':
      if (state.status !== 'queued' || state.attempt !== command.attempt) {
        throw new JobDomainError(
          'attempt-not-startable',
          `attempt ${command.attempt} cannot start while the job is ${state.status}`,
        );
      }
      return [
        {
          type: 'JobStarted',
          data: {
            attempt: command.attempt,
            workerId: command.workerId,
            ...(command.imageId === undefined ? {} : { imageId: command.imageId }),
          },
        },
      ];

    case 'CompleteAttempt': {
      if (state.status !== 'running' || state.attempt !== command.attempt) {
        throw new JobDomainError('attempt-not-running', `attempt ${command.attempt} is not running`);
      }
      const { reason, message, artifacts = [], refusedOutputs = [], ...output } = command.result;
      const data = { attempt: command.attempt, ...output };
      // Files first: the terminal event is the attempt's last word, and a reader that stops there
      // has already seen everything the attempt left behind.
      const files: JobEvent[] = [
        ...artifacts.map(
          (artifact): JobEvent => ({
            type: 'ArtifactStored',
            data: { attempt: command.attempt, ...artifact },
          }),
        ),
        // However many files the attempt left, its stream gets at most the cap's worth of refusals.
        ...capRefusals(refusedOutputs).map(
          (refused): JobEvent => ({
            type: 'ArtifactRefused',
            data: { attempt: command.attempt, ...refused },
          }),
        ),
      ];
      if (reason === 'exited' && output.exitCode === 0) return [...files, { type: 'JobSucceeded', data }];
      const failure: FailureReason = reason === 'exited' ? 'exit-code' : reason;
      return [
        ...files,
        {
          type: 'JobFailed',
          data: { ...data, reason: failure, ...(message === undefined ? {} : { message }) },
        },
        // A missing or re-pinned image stays so on the next attempt: only the operator can mend it.
        ...(isPermanentFailure(failure) ? [] : retryAfter(state, command.attempt, failure, command)),
      ];
    }

    case 'AbandonAttempt':
      assertRunningOn(state, command);
      return [
        {
          type: 'JobAttemptAbandoned',
          data: { attempt: command.attempt, workerId: command.workerId, reason: command.reason },
        },
        ...retryAfter(state, command.attempt, 'abandoned', command),
      ];

    case 'InterruptAttempt': {
      // Our infrastructure failed the run (the Docker engine went away or hung), not the job: the
      // same attempt is queued again, so neither maxAttempts nor the retry policy is spent on it.
      assertRunningOn(state, command);
      const dueAt = new Date(command.now.getTime() + Math.round(interruptedRetryMs * (1 + command.random)));
      return [
        {
          type: 'JobRetryScheduled',
          data: {
            attempt: command.attempt,
            dueAt: dueAt.toISOString(),
            reason: 'infrastructure',
            comment: command.cause.slice(0, 1_000),
            ...queueDeadline(state.spec, dueAt),
          },
        },
      ];
    }

    case 'CancelJob':
      switch (state.status) {
        case 'initial':
          throw new JobDomainError('job-not-found', 'no such job');
        case 'cancelled':
          return []; // idempotent: the job is already where the caller wants it
        case 'queued':
        case 'running':
          return [
            {
              type: 'JobCancelled',
              data: {
                attempt: state.attempt,
                wasRunning: state.status === 'running',
                ...(command.reason === undefined ? {} : { reason: command.reason }),
              },
            },
          ];
        case 'succeeded':
        case 'failed':
        case 'expired':
          throw new JobDomainError(
            'job-finished',
            `the job already ${state.status}; there is nothing to cancel`,
          );
        default: {
          const unhandled: never = state;
          throw new Error(`unknown job status ${(unhandled as { status: string }).status}`);
        }
      }

    case 'RetryJob': {
      if (state.status !== 'failed' && state.status !== 'cancelled' && state.status !== 'expired') {
        throw new JobDomainError(
          'job-not-retryable',
          `a ${state.status} job cannot be re-run; only failed, cancelled or expired ones`,
        );
      }
      const data = {
        attempt: state.attempt + 1,
        dueAt: command.now.toISOString(),
        reason: 'operator' as const,
        requestedBy: command.requestedBy,
        ...(command.comment === undefined ? {} : { comment: command.comment }),
        ...queueDeadline(state.spec, command.now),
      };
      return [{ type: 'JobRetryScheduled', data }];
    }

    case 'ExpireAttempt':
      if (
        state.status !== 'queued' ||
        state.attempt !== command.attempt ||
        !state.expiresAt ||
        state.expiresAt > command.now
      ) {
        throw new JobDomainError(
          'attempt-not-startable',
          `attempt ${command.attempt} is not waiting past a deadline`,
        );
      }
      return [
        { type: 'JobExpired', data: { attempt: command.attempt, expiresAt: state.expiresAt.toISOString() } },
      ];

    default: {
      const unhandled: never = command;
      throw new Error(`unknown job command ${(unhandled as { type: string }).type}`);
    }
  }
}

/**
 * The job aggregate as one decider: `decide(command, state)` and `evolve(state, event)`, both pure,
 * from `initialState()`. Callers go through it, so the aggregate reads as one thing.
 */
export const jobDecider = { decide, evolve, initialState } as const;
