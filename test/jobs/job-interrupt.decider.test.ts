import { describe, expect, it } from 'vitest';
import type { JobCommand } from '../../jobs/job.decider.ts';
import { resolveJobSpec } from '../../jobs/resolve-job-spec.ts';
import type { JobEvent } from '../../schemas/job-events.schema.ts';
import { testPolicy } from '../support/test-policy.ts';
import { givenAt as at, given } from './given-when-then.ts';

// A job with no retries at all: an engine fault must still cost it nothing.
const spec = resolveJobSpec(
  { image: 'omni-busybox:latest', command: ['sleep', '1'], retry: { maxAttempts: 1 } },
  testPolicy,
);
const submitted: JobEvent = { type: 'JobSubmitted', data: { spec: JSON.parse(JSON.stringify(spec)) } };
const started: JobEvent = { type: 'JobStarted', data: { attempt: 1, workerId: 'w1' } };
const cause = 'Docker engine at unix:///var/run/docker.sock unreachable while waiting for the container';
const interrupt: JobCommand = {
  type: 'InterruptAttempt',
  attempt: 1,
  workerId: 'w1',
  cause,
  now: at,
  random: 0,
};

describe('job decider: an attempt our infrastructure interrupted', () => {
  it('queues the same attempt again, reason infrastructure, whatever the retry policy', () => {
    const events = given(submitted, started)
      .when(interrupt)
      .then({
        type: 'JobRetryScheduled',
        data: { attempt: 1, dueAt: '2026-01-01T00:00:01.000Z', reason: 'infrastructure', comment: cause },
      });
    const after = given(submitted, started, ...events);
    expect(after.state).toMatchObject({ status: 'queued', attempt: 1 });
    // The same attempt number starts again: no attempt was spent.
    after
      .when({ type: 'StartAttempt', attempt: 1, workerId: 'w2' })
      .then({ type: 'JobStarted', data: { attempt: 1, workerId: 'w2' } });
  });

  it('refuses an interruption reported by another worker, or of an attempt that is not running', () => {
    given(submitted, started)
      .when({ ...interrupt, workerId: 'w2' })
      .thenError('attempt-not-running');
    given(submitted).when(interrupt).thenError('attempt-not-running');
  });
});
