import type { JobEvent } from '../schemas/job-events.schema.ts';
import type { JobState } from './job.state.ts';
import { appendRecord } from './record-list.ts';

/** A job event with the envelope facts evolve needs (when, by whom). */
export type JobEventEnvelope = JobEvent & {
  readonly recordedAt: Date;
  readonly actor?: string;
  readonly tenant?: string;
};

/** Jobs submitted without a tenant (single-tenant deployments) belong to this one. */
export const defaultJobTenant = 'default';

/** Folds one event into the job's state. Pure: events are facts, so nothing here can refuse one. */
export function evolve(state: JobState, event: JobEventEnvelope): JobState {
  switch (event.type) {
    case 'JobSubmitted':
      return {
        status: 'queued',
        attempt: 1,
        spec: event.data.spec,
        submittedAt: event.recordedAt,
        tenant: event.tenant ?? defaultJobTenant,
        ...(event.actor === undefined ? {} : { submittedBy: event.actor }),
        ...(event.data.runAt === undefined ? {} : { dueAt: new Date(event.data.runAt) }),
        ...(event.data.expiresAt === undefined ? {} : { expiresAt: new Date(event.data.expiresAt) }),
      };
    case 'JobStarted': {
      if (state.status === 'initial') return state;
      const current = {
        attempt: event.data.attempt,
        workerId: event.data.workerId,
        startedAt: event.recordedAt,
        ...(event.data.imageId === undefined ? {} : { imageId: event.data.imageId }),
      };
      return { ...withoutOutcome(state), status: 'running', attempt: event.data.attempt, current };
    }
    case 'ArtifactStored':
      if (state.status === 'initial') return state;
      return { ...state, artifacts: appendRecord(state.artifacts, event.data) };
    case 'ArtifactRefused':
      if (state.status === 'initial') return state;
      return { ...state, refusedOutputs: appendRecord(state.refusedOutputs, event.data) };
    case 'JobOutput':
    case 'WebhookDelivered':
    case 'WebhookFailed':
      // Live output and webhook deliveries are history for readers of the stream; they change
      // nothing the decider looks at.
      return state;
    case 'JobSucceeded': {
      if (state.status !== 'running') return state;
      const { attempt: _attempt, ...output } = event.data;
      return { ...state, status: 'succeeded', outcome: { ...output, finishedAt: event.recordedAt } };
    }
    case 'JobFailed': {
      if (state.status === 'initial') return state;
      const { attempt: _attempt, reason, message, ...output } = event.data;
      return {
        ...withoutOutcome(state),
        // Which attempt failed, where, on which image: what an operator asks next.
        ...('current' in state && state.current ? { current: state.current } : {}),
        status: 'failed',
        reason,
        ...(message === undefined ? {} : { message }),
        outcome: { ...output, finishedAt: event.recordedAt },
      };
    }
    case 'JobRetryScheduled': {
      if (state.status === 'initial') return state;
      const { dueAt, expiresAt } = event.data;
      return {
        ...withoutOutcome(state),
        status: 'queued',
        attempt: event.data.attempt,
        dueAt: new Date(dueAt),
        ...(expiresAt === undefined ? {} : { expiresAt: new Date(expiresAt) }),
      };
    }
    case 'JobAttemptAbandoned':
      if (state.status !== 'running' || state.attempt !== event.data.attempt) return state;
      return {
        ...withoutOutcome(state),
        status: 'failed',
        current: state.current,
        reason: 'abandoned',
        message: `worker ${event.data.workerId} ${event.data.reason === 'shutdown' ? 'shut down' : 'was lost'} during the attempt`,
      };
    case 'JobCancelled':
      if (state.status === 'initial') return state;
      return {
        ...withoutOutcome(state),
        status: 'cancelled',
        cancelledAt: event.recordedAt,
        ...(event.actor === undefined ? {} : { cancelledBy: event.actor }),
        ...(event.data.reason === undefined ? {} : { reason: event.data.reason }),
      };
    case 'JobExpired':
      if (state.status === 'initial') return state;
      return { ...withoutOutcome(state), status: 'expired', expiredAt: event.recordedAt };
    default: {
      const unhandled: never = event;
      throw new Error(`unknown job event ${(unhandled as { type: string }).type}`);
    }
  }
}

function withoutOutcome<State extends Exclude<JobState, { status: 'initial' }>>(state: State) {
  const { spec, submittedAt, submittedBy, attempt, tenant, artifacts, refusedOutputs } = state;
  return {
    spec,
    submittedAt,
    attempt,
    tenant,
    ...(submittedBy === undefined ? {} : { submittedBy }),
    ...(artifacts === undefined ? {} : { artifacts }),
    ...(refusedOutputs === undefined ? {} : { refusedOutputs }),
  };
}

/** Folds a whole history, oldest first. */
export function foldJob(initial: JobState, events: readonly JobEventEnvelope[]): JobState {
  return events.reduce(evolve, initial);
}
