import { describe, expect, it } from 'vitest';
import { decide, type JobCommand } from '../../jobs/job.decider.ts';
import { foldJob, type JobEventEnvelope } from '../../jobs/job.evolve.ts';
import { initialJobState } from '../../jobs/job.state.ts';
import { JobDomainError } from '../../jobs/job-domain-error.ts';
import { recordsOf } from '../../jobs/record-list.ts';
import { resolveJobSpec } from '../../jobs/resolve-job-spec.ts';
import type { JobEvent } from '../../schemas/job-events.schema.ts';
import { testPolicy } from '../support/test-policy.ts';

const spec = resolveJobSpec({ image: 'omni-busybox:latest', command: ['echo', 'hi'] }, testPolicy);
const at = new Date('2026-01-01T00:00:00Z');
const output = { exitCode: 0, stdout: 'hi\n', stderr: '', outputTruncated: false, durationMs: 5 };

// given (events) / when (command) / then (events or error)
function given(...events: JobEvent[]) {
  const state = foldJob(
    initialJobState(),
    events.map((event): JobEventEnvelope => ({ ...event, recordedAt: at })),
  );
  return { when: (command: JobCommand) => () => decide(command, state) };
}

const submitted: JobEvent = { type: 'JobSubmitted', data: { spec: JSON.parse(JSON.stringify(spec)) } };
const started: JobEvent = { type: 'JobStarted', data: { attempt: 1, workerId: 'w1' } };

describe('job decider', () => {
  it('submits a new job', () => {
    expect(given().when({ type: 'SubmitJob', spec })()).toEqual([submitted]);
  });

  it('refuses to submit the same job twice', () => {
    expect(given(submitted).when({ type: 'SubmitJob', spec })).toThrow(JobDomainError);
  });

  it('starts the queued attempt', () => {
    expect(given(submitted).when({ type: 'StartAttempt', attempt: 1, workerId: 'w1' })()).toEqual([started]);
  });

  it('refuses to start an attempt twice, or one that is not queued', () => {
    expect(given(submitted, started).when({ type: 'StartAttempt', attempt: 1, workerId: 'w2' })).toThrow(
      /cannot start/,
    );
    expect(given(submitted).when({ type: 'StartAttempt', attempt: 2, workerId: 'w1' })).toThrow(
      /cannot start/,
    );
  });

  it('records exit code 0 as success', () => {
    const events = given(submitted, started).when({
      type: 'CompleteAttempt',
      attempt: 1,
      now: at,
      random: 0,
      result: { reason: 'exited', ...output },
    })();
    expect(events).toEqual([{ type: 'JobSucceeded', data: { attempt: 1, ...output } }]);
  });

  it('records a non-zero exit as failure with its code', () => {
    const result = { reason: 'exited' as const, ...output, exitCode: 3 };
    const events = given(submitted, started).when({
      type: 'CompleteAttempt',
      attempt: 1,
      now: at,
      random: 0,
      result,
    })();
    expect(events).toEqual([
      { type: 'JobFailed', data: { attempt: 1, ...output, exitCode: 3, reason: 'exit-code' } },
    ]);
  });

  it.each(['timeout', 'oom', 'output-limit', 'sandbox-error'] as const)(
    'records %s as its own failure reason',
    (reason) => {
      const events = given(submitted, started).when({
        type: 'CompleteAttempt',
        attempt: 1,
        now: at,
        random: 0,
        result: { reason, ...output, exitCode: null },
      })();
      expect(events[0]).toMatchObject({ type: 'JobFailed', data: { reason } });
    },
  );

  it('refuses to complete an attempt that is not running', () => {
    const result = { reason: 'exited' as const, ...output };
    expect(
      given(submitted).when({ type: 'CompleteAttempt', attempt: 1, now: at, random: 0, result }),
    ).toThrow(/not running/);
  });

  it('folds a history into the current state', () => {
    const state = foldJob(
      initialJobState(),
      [submitted, started, { type: 'JobSucceeded', data: { attempt: 1, ...output } } as JobEvent].map(
        (event) => ({ ...event, recordedAt: at }),
      ),
    );
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
    const events = given(submitted, started).when({
      type: 'CompleteAttempt',
      attempt: 1,
      now: at,
      random: 0,
      result: { reason: 'exited', ...output, artifacts: [artifact], refusedOutputs: [refused] },
    })();
    expect(events).toEqual([
      { type: 'ArtifactStored', data: { attempt: 1, ...artifact } },
      { type: 'ArtifactRefused', data: { attempt: 1, ...refused } },
      { type: 'JobSucceeded', data: { attempt: 1, ...output } },
    ]);
  });

  it('keeps a failed attempt’s artifacts too, and folds every attempt’s into the state', () => {
    const events = given(submitted, started).when({
      type: 'CompleteAttempt',
      attempt: 1,
      now: at,
      random: 0,
      result: { reason: 'exited', ...output, exitCode: 2, artifacts: [artifact] },
    })();
    expect(events.map((event) => event.type)).toEqual(['ArtifactStored', 'JobFailed']);
    const state = foldJob(
      initialJobState(),
      [submitted, started, ...events].map((event): JobEventEnvelope => ({ ...event, recordedAt: at })),
    );
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
    const [event] = given().when({ type: 'SubmitJob', spec: withInputs })();
    expect(event).toMatchObject({
      type: 'JobSubmitted',
      data: { spec: { inputs, outputs: ['/out/*.json'] } },
    });
    expect((event as { data: { spec: { inputs: unknown } } }).data.spec.inputs).not.toBe(inputs);
  });
});
