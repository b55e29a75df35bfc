import { describe, expect, it } from 'vitest';
import { recordsOf } from '../../jobs/record-list.ts';
import { resolveJobSpec } from '../../jobs/resolve-job-spec.ts';
import type { JobEvent } from '../../schemas/job-events.schema.ts';
import { testPolicy } from '../support/test-policy.ts';
import { givenAt as at, given } from './given-when-then.ts';

const spec = resolveJobSpec({ image: 'omni-busybox:latest', command: ['echo', 'hi'] }, testPolicy);
const output = { exitCode: 0, stdout: 'hi\n', stderr: '', outputTruncated: false, durationMs: 5 };

const submitted: JobEvent = { type: 'JobSubmitted', data: { spec: JSON.parse(JSON.stringify(spec)) } };
const started: JobEvent = { type: 'JobStarted', data: { attempt: 1, workerId: 'w1' } };

describe('job decider', () => {
  it('submits a new job', () => {
    given().when({ type: 'SubmitJob', spec }).then(submitted);
  });

  it('refuses to submit the same job twice', () => {
    given(submitted).when({ type: 'SubmitJob', spec }).thenError('job-exists');
  });

  it('starts the queued attempt', () => {
    given(submitted).when({ type: 'StartAttempt', attempt: 1, workerId: 'w1' }).then(started);
  });

  it('refuses to start an attempt twice, or one that is not queued', () => {
    given(submitted, started)
      .when({ type: 'StartAttempt', attempt: 1, workerId: 'w2' })
      .thenError('attempt-not-startable', /cannot start/);
    given(submitted)
      .when({ type: 'StartAttempt', attempt: 2, workerId: 'w1' })
      .thenError('attempt-not-startable', /cannot start/);
  });

  it('records exit code 0 as success', () => {
    given(submitted, started)
      .when({
        type: 'CompleteAttempt',
        attempt: 1,
        now: at,
        random: 0,
        result: { reason: 'exited', ...output },
      })
      .then({ type: 'JobSucceeded', data: { attempt: 1, ...output } });
  });

  it('records a non-zero exit as failure with its code', () => {
    const result = { reason: 'exited' as const, ...output, exitCode: 3 };
    given(submitted, started)
      .when({ type: 'CompleteAttempt', attempt: 1, now: at, random: 0, result })
      .then({ type: 'JobFailed', data: { attempt: 1, ...output, exitCode: 3, reason: 'exit-code' } });
  });

  it.each(['timeout', 'oom', 'output-limit', 'sandbox-error'] as const)(
    'records %s as its own failure reason',
    (reason) => {
      // The default policy retries the reasons it names (a sandbox error is ours, not the job's).
      const retry = spec.retry?.on.includes(reason)
        ? [{ type: 'JobRetryScheduled', data: { attempt: 2 } }]
        : [];
      given(submitted, started)
        .when({
          type: 'CompleteAttempt',
          attempt: 1,
          now: at,
          random: 0,
          result: { reason, ...output, exitCode: null },
        })
        .thenMatch({ type: 'JobFailed', data: { reason } }, ...retry);
    },
  );

  it.each(['image-missing', 'image-digest-mismatch'] as const)(
    'records %s with its message and never retries it, whatever the policy says of sandbox errors',
    (reason) => {
      const retrying = resolveJobSpec(
        { image: 'omni-busybox:latest', command: ['true'], retry: { maxAttempts: 5, on: ['sandbox-error'] } },
        testPolicy,
      );
      const message = `${reason}: image omni-busybox:latest is not present on this Docker engine`;
      const decided = given(
        { type: 'JobSubmitted', data: { spec: JSON.parse(JSON.stringify(retrying)) } },
        started,
      )
        .when({
          type: 'CompleteAttempt',
          attempt: 1,
          now: at,
          random: 0,
          result: { reason, ...output, exitCode: null, message },
        })
        .thenMatch({ type: 'JobFailed', data: { reason, message } });
      expect(decided.map((event) => event.type)).not.toContain('JobRetryScheduled');
    },
  );

  it('refuses to complete an attempt that is not running', () => {
    const result = { reason: 'exited' as const, ...output };
    given(submitted)
      .when({ type: 'CompleteAttempt', attempt: 1, now: at, random: 0, result })
      .thenError('attempt-not-running', /not running/);
  });

  it('folds a history into the current state', () => {
    const { state } = given(submitted, started, { type: 'JobSucceeded', data: { attempt: 1, ...output } });
    expect(state).toMatchObject({
      status: 'succeeded',
      attempt: 1,
      outcome: { exitCode: 0, stdout: 'hi\n' },
    });
  });
});

describe('resolveJobSpec', () => {
  it('fills defaults and clamps requests to the operator maxima', () => {
    const resolved = resolveJobSpec(
      {
        image: 'omni-busybox:latest',
        command: ['true'],
        timeoutMs: 10 ** 9,
        limits: { memoryBytes: 10 ** 12, pids: 5 },
      },
      testPolicy,
    );
    expect(resolved.timeoutMs).toBe(testPolicy.maxima.timeoutMs);
    expect(resolved.limits).toEqual({
      memoryBytes: testPolicy.maxima.memoryBytes,
      cpus: testPolicy.defaults.cpus,
      pids: 5,
    });
  });
});

describe('job decider: artifacts', () => {
  const artifact = {
    fileId: '3d1b2c4e-5f60-4a7b-8c9d-0e1f2a3b4c5d',
    path: '/out/report.json',
    size: 12,
    sha256: 'a'.repeat(64),
    contentType: 'application/json',
  };
  const refused = { path: '/out/passwd', reason: 'symlink' as const, detail: 'points to /etc/passwd' };

  it('records kept and refused outputs before the terminal event, in one decision', () => {
    given(submitted, started)
      .when({
        type: 'CompleteAttempt',
        attempt: 1,
        now: at,
        random: 0,
        result: { reason: 'exited', ...output, artifacts: [artifact], refusedOutputs: [refused] },
      })
      .then(
        { type: 'ArtifactStored', data: { attempt: 1, ...artifact } },
        { type: 'ArtifactRefused', data: { attempt: 1, ...refused } },
        { type: 'JobSucceeded', data: { attempt: 1, ...output } },
      );
  });

  it('keeps a failed attempt’s artifacts too, and folds every attempt’s into the state', () => {
    const events = given(submitted, started)
      .when({
        type: 'CompleteAttempt',
        attempt: 1,
        now: at,
        random: 0,
        result: { reason: 'exited', ...output, exitCode: 2, artifacts: [artifact] },
      })
      .thenMatch({ type: 'ArtifactStored' }, { type: 'JobFailed' });
    const { state } = given(submitted, started, ...events);
    expect(state.status).toBe('failed');
    expect(state.status !== 'initial' && recordsOf(state.artifacts)).toEqual([{ attempt: 1, ...artifact }]);
  });

  it('pins uploaded inputs by hash on JobSubmitted, copied rather than shared', () => {
    const inputs = [{ file: artifact.fileId, path: '/tmp/in.csv', sha256: 'b'.repeat(64), size: 3 }];
    const withInputs = resolveJobSpec(
      { image: 'omni-busybox:latest', command: ['cat', '/tmp/in.csv'], outputs: ['/out/*.json'] },
      testPolicy,
      inputs,
    );
    const [event] = given()
      .when({ type: 'SubmitJob', spec: withInputs })
      .thenMatch({ type: 'JobSubmitted', data: { spec: { inputs, outputs: ['/out/*.json'] } } });
    expect((event as { data: { spec: { inputs: unknown } } }).data.spec.inputs).not.toBe(inputs);
  });
});
