import { describe, expect, it } from 'vitest';
import type { JobCommand } from '../../jobs/job.decider.ts';
import { resolveJobSpec } from '../../jobs/resolve-job-spec.ts';
import { scheduleRetry } from '../../jobs/retry-schedule.ts';
import type { JobEvent } from '../../schemas/job-events.schema.ts';
import { testPolicy } from '../support/test-policy.ts';
import { given, givenAt as now } from './given-when-then.ts';

const plus = (ms: number) => new Date(now.getTime() + ms).toISOString();
const spec = resolveJobSpec(
  {
    image: 'omni-busybox:latest',
    command: ['false'],
    retry: {
      maxAttempts: 3,
      backoff: { initialMs: 1000, multiplier: 2, maxMs: 3000, jitter: 0.5 },
      on: ['exit-code', 'abandoned'],
    },
    queueTimeoutMs: 60_000,
  },
  testPolicy,
);
const exit3 = {
  reason: 'exited' as const,
  exitCode: 3,
  stdout: '',
  stderr: 'no\n',
  outputTruncated: false,
  durationMs: 4,
};
const failedData = (attempt: number) => ({
  attempt,
  exitCode: 3,
  stdout: '',
  stderr: 'no\n',
  outputTruncated: false,
  durationMs: 4,
  reason: 'exit-code' as const,
});

const submitted: JobEvent = {
  type: 'JobSubmitted',
  data: { spec: JSON.parse(JSON.stringify(spec)), expiresAt: plus(60_000) },
};
const started = (attempt: number, workerId = 'w1'): JobEvent => ({
  type: 'JobStarted',
  data: { attempt, workerId },
});
const failed = (attempt: number): JobEvent => ({ type: 'JobFailed', data: failedData(attempt) });
const retried = (attempt: number, dueAt: string): Extract<JobEvent, { type: 'JobRetryScheduled' }> => ({
  type: 'JobRetryScheduled',
  data: {
    attempt,
    dueAt,
    reason: 'exit-code',
    expiresAt: new Date(Date.parse(dueAt) + 60_000).toISOString(),
  },
});
const complete = (attempt: number, random = 0): JobCommand => ({
  type: 'CompleteAttempt',
  attempt,
  result: exit3,
  now,
  random,
});

describe('retries', () => {
  it('backs off exponentially, capped at maxMs, and jitter only shortens the wait', () => {
    const policy = spec.retry;
    if (!policy) throw new Error('resolveJobSpec fills a retry policy');
    expect(scheduleRetry(policy, 1, 'exit-code', now, 0)).toEqual({
      attempt: 2,
      dueAt: new Date(plus(1000)),
    });
    expect(scheduleRetry(policy, 2, 'exit-code', now, 0)?.dueAt).toEqual(new Date(plus(2000)));
    expect(scheduleRetry(policy, 2, 'exit-code', now, 0.999)?.dueAt.getTime()).toBeGreaterThanOrEqual(
      now.getTime() + 1000,
    );
    expect(scheduleRetry({ ...policy, maxAttempts: 9 }, 6, 'exit-code', now, 0)?.dueAt).toEqual(
      new Date(plus(3000)),
    );
    expect(scheduleRetry(policy, 3, 'exit-code', now, 0)).toBeUndefined();
    expect(scheduleRetry(policy, 1, 'timeout', now, 0)).toBeUndefined();
  });

  it('schedules the next attempt after a retryable failure, with a fresh queue deadline', () => {
    given(submitted, started(1))
      .when(complete(1))
      .then(failed(1), retried(2, plus(1000)));
  });

  it('folds a scheduled retry into a queued job at the next attempt, due later', () => {
    const { state } = given(submitted, started(1), failed(1), retried(2, plus(1000)));
    expect(state).toMatchObject({
      status: 'queued',
      attempt: 2,
      dueAt: new Date(plus(1000)),
      expiresAt: new Date(plus(61_000)),
    });
  });

  it('fails for good after the last attempt (dead-lettered)', () => {
    const history = given(
      submitted,
      started(1),
      failed(1),
      retried(2, plus(1000)),
      started(2),
      failed(2),
      retried(3, plus(2000)),
      started(3),
    );
    history.when(complete(3)).then(failed(3));
    const { state } = given(
      submitted,
      started(1),
      failed(1),
      retried(2, plus(1000)),
      started(2),
      failed(2),
      retried(3, plus(2000)),
      started(3),
      failed(3),
    );
    expect(state).toMatchObject({ status: 'failed', attempt: 3, reason: 'exit-code' });
  });

  it('does not retry a reason the policy does not name', () => {
    given(submitted, started(1))
      .when({ ...complete(1), result: { ...exit3, reason: 'timeout', exitCode: null } } as JobCommand)
      .thenMatch({ type: 'JobFailed' });
  });

  it('lets an operator re-run a failed job as a new attempt in the same stream, saying who and why', () => {
    const dead = given(submitted, started(1), failed(1));
    dead.when({ type: 'RetryJob', requestedBy: 'ops', comment: 'flaky disk', now }).then({
      type: 'JobRetryScheduled',
      data: {
        attempt: 2,
        dueAt: now.toISOString(),
        reason: 'operator',
        requestedBy: 'ops',
        comment: 'flaky disk',
        expiresAt: plus(60_000),
      },
    });
  });

  it.each([
    ['queued', [submitted]],
    ['running', [submitted, started(1)]],
    [
      'succeeded',
      [
        submitted,
        started(1),
        {
          type: 'JobSucceeded',
          data: { ...failedData(1), exitCode: 0, reason: undefined },
        } as unknown as JobEvent,
      ],
    ],
  ])('refuses an operator re-run of a %s job', (_status, events) => {
    given(...(events as JobEvent[]))
      .when({ type: 'RetryJob', requestedBy: 'ops', now })
      .thenError('job-not-retryable', /cannot be re-run/);
  });
});

describe('abandoned attempts', () => {
  it('records a lost worker and retries per policy', () => {
    given(submitted, started(1))
      .when({ type: 'AbandonAttempt', attempt: 1, workerId: 'w1', reason: 'worker-lost', now, random: 0 })
      .then(
        { type: 'JobAttemptAbandoned', data: { attempt: 1, workerId: 'w1', reason: 'worker-lost' } },
        { ...retried(2, plus(1000)), data: { ...retried(2, plus(1000)).data, reason: 'abandoned' } },
      );
  });

  it('refuses to abandon an attempt another worker runs, or one that ended', () => {
    given(submitted, started(1, 'w2'))
      .when({ type: 'AbandonAttempt', attempt: 1, workerId: 'w1', reason: 'worker-lost', now, random: 0 })
      .thenError('attempt-not-running');
    given(submitted, started(1), failed(1))
      .when({ type: 'AbandonAttempt', attempt: 1, workerId: 'w1', reason: 'shutdown', now, random: 0 })
      .thenError('attempt-not-running', /not running/);
  });

  it('folds an abandonment without a retry into a failed job, reason abandoned', () => {
    const { state } = given(submitted, started(1), {
      type: 'JobAttemptAbandoned',
      data: { attempt: 1, workerId: 'w1', reason: 'shutdown' },
    });
    expect(state).toMatchObject({
      status: 'failed',
      reason: 'abandoned',
      message: expect.stringMatching(/shut down/),
    });
  });
});

describe('cancellation', () => {
  it('cancels a queued job and a running one, saying which', () => {
    given(submitted)
      .when({ type: 'CancelJob', reason: 'typo' })
      .then({ type: 'JobCancelled', data: { attempt: 1, wasRunning: false, reason: 'typo' } });
    given(submitted, started(1))
      .when({ type: 'CancelJob' })
      .then({ type: 'JobCancelled', data: { attempt: 1, wasRunning: true } });
  });

  it('is idempotent: cancelling a cancelled job decides nothing', () => {
    given(submitted, { type: 'JobCancelled', data: { attempt: 1, wasRunning: false } })
      .when({ type: 'CancelJob' })
      .thenNothing();
  });

  it('refuses to cancel a finished job', () => {
    given(submitted, started(1), failed(1)).when({ type: 'CancelJob' }).thenError('job-finished');
  });

  it('cannot start or complete an attempt of a cancelled job', () => {
    const cancelled = given(submitted, started(1), {
      type: 'JobCancelled',
      data: { attempt: 1, wasRunning: true },
      actor: 'alice',
    });
    expect(cancelled.state).toMatchObject({ status: 'cancelled', cancelledBy: 'alice' });
    cancelled.when(complete(1)).thenError('attempt-not-running', /not running/);
    given(submitted, { type: 'JobCancelled', data: { attempt: 1, wasRunning: false } })
      .when({ type: 'StartAttempt', attempt: 1, workerId: 'w1' })
      .thenError('attempt-not-startable', /cannot start/);
  });
});

describe('queue deadlines and delays', () => {
  it('derives the deadline from queueTimeoutMs after runAt, and records both', () => {
    const runAt = new Date(plus(5000));
    const events = given()
      .when({ type: 'SubmitJob', spec, runAt, now })
      .thenMatch({ type: 'JobSubmitted', data: { runAt: runAt.toISOString(), expiresAt: plus(65_000) } });
    expect(given(...events).state).toMatchObject({
      status: 'queued',
      dueAt: runAt,
      expiresAt: new Date(plus(65_000)),
    });
  });

  it('expires an attempt that waited past its deadline — and only then', () => {
    const late = new Date(plus(60_000));
    given(submitted)
      .when({ type: 'ExpireAttempt', attempt: 1, now: late })
      .then({ type: 'JobExpired', data: { attempt: 1, expiresAt: plus(60_000) } });
    given(submitted).when({ type: 'ExpireAttempt', attempt: 1, now }).thenError('attempt-not-startable');
    given(submitted, started(1))
      .when({ type: 'ExpireAttempt', attempt: 1, now: late })
      .thenError('attempt-not-startable');
  });
});
