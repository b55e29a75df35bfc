import type { ResolvedJobSpec } from '../../schemas/job-spec.schema.ts';
import type { FailureReason, JobEvent } from '../../schemas/job-events.schema.ts';
import { JobDomainError } from './job-domain-error.ts';
import type { JobState } from './job.state.ts';

/** How a sandbox run ended, as the worker reports it. */
export interface AttemptResult {
  readonly reason: 'exited' | 'timeout' | 'oom' | 'output-limit' | 'sandbox-error';
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly outputTruncated: boolean;
  readonly durationMs: number;
  readonly message?: string;
}

export type JobCommand =
  | { readonly type: 'SubmitJob'; readonly spec: ResolvedJobSpec }
  | { readonly type: 'StartAttempt'; readonly attempt: number; readonly workerId: string; readonly imageId?: string }
  | { readonly type: 'CompleteAttempt'; readonly attempt: number; readonly result: AttemptResult };

/** Decides which events a command produces in the given state. Pure; throws JobDomainError to refuse. */
export function decide(command: JobCommand, state: JobState): JobEvent[] {
  switch (command.type) {
    case 'SubmitJob':
      if (state.status !== 'initial') throw new JobDomainError('job-exists', 'the job was already submitted');
      return [{ type: 'JobSubmitted', data: { spec: { ...command.spec, command: [...command.spec.command], env: { ...command.spec.env }, ...(command.spec.secrets ? { secrets: { ...command.spec.secrets } } : {}) } } }];

    case 'StartAttempt':
      if (state.status !== 'queued' || state.attempt !== command.attempt) {
        throw new JobDomainError('attempt-not-startable', `attempt ${command.attempt} cannot start while the job is ${state.status}`);
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
      const { reason, message, ...output } = command.result;
      const data = { attempt: command.attempt, ...output };
      if (reason === 'exited' && output.exitCode === 0) return [{ type: 'JobSucceeded', data }];
      const failure: FailureReason = reason === 'exited' ? 'exit-code' : reason;
      return [{ type: 'JobFailed', data: { ...data, reason: failure, ...(message === undefined ? {} : { message }) } }];
    }

    default: {
      const unhandled: never = command;
      throw new Error(`unknown job command ${(unhandled as { type: string }).type}`);
    }
  }
}
