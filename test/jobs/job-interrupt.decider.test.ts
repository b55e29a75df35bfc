import { describe, expect, it } from 'vitest';
import { decide, type JobCommand } from '../../jobs/job.decider.ts';
import { foldJob, type JobEventEnvelope } from '../../jobs/job.evolve.ts';
import { initialJobState } from '../../jobs/job.state.ts';
import { JobDomainError } from '../../jobs/job-domain-error.ts';
import { resolveJobSpec } from '../../jobs/resolve-job-spec.ts';
import type { JobEvent } from '../../schemas/job-events.schema.ts';
import { testPolicy } from '../support/test-policy.ts';

// A job with no retries at all: an engine fault must still cost it nothing.
const spec = resolveJobSpec(
  { image: 'omni-busybox:latest', command: ['sleep', '1'], retry: { maxAttempts: 1 } },
  testPolicy,
);
const at = new Date('2026-01-01T00:00:00Z');
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

const fold = (...events: JobEvent[]) =>
  foldJob(
    initialJobState(),
    events.map((event): JobEventEnvelope => ({ ...event, recordedAt: at })),
  );

describe('job decider: an attempt our infrastructure interrupted', () => {
  it('queues the same attempt again, reason infrastructure, whatever the retry policy', () => {
    const events = decide(interrupt, fold(submitted, started));
    expect(events).toEqual([
      {
        type: 'JobRetryScheduled',
        data: { attempt: 1, dueAt: '2026-01-01T00:00:01.000Z', reason: 'infrastructure', comment: cause },
      },
    ]);
    const after = fold(submitted, started, ...events);
    expect(after).toMatchObject({ status: 'queued', attempt: 1 });
    // The same attempt number starts again: no attempt was spent.
    expect(decide({ type: 'StartAttempt', attempt: 1, workerId: 'w2' }, after)).toEqual([
      { type: 'JobStarted', data: { attempt: 1, workerId: 'w2' } },
    ]);
  });

  it('refuses an interruption reported by another worker, or of an attempt that is not running', () => {
    expect(() => decide({ ...interrupt, workerId: 'w2' }, fold(submitted, started))).toThrow(JobDomainError);
    expect(() => decide(interrupt, fold(submitted))).toThrow(JobDomainError);
  });
});
