import { describe, expect, it } from 'vitest';
import { attemptCaps } from '../../jobs/attempt-caps.ts';
import { jobDecider } from '../../jobs/job.decider.ts';
import { foldJob, type JobEventEnvelope } from '../../jobs/job.evolve.ts';
import { recordsOf } from '../../jobs/record-list.ts';
import { resolveJobSpec } from '../../jobs/resolve-job-spec.ts';
import type { JobEvent } from '../../schemas/job-events.schema.ts';
import { collectOutputs } from '../../workers/sandbox/output-files.ts';
import { schedulerTimesMs } from '../support/scheduler-times.ts';
import { testPolicy } from '../support/test-policy.ts';

// A job that leaves 100,000 files in /out: what reaches its stream, what folding it costs.
const spec = resolveJobSpec(
  { image: 'omni-busybox:latest', command: ['true'], outputs: ['/out/*'] },
  testPolicy,
);
const at = new Date('2026-01-01T00:00:00Z');
const output = { exitCode: 0, stdout: '', stderr: '', outputTruncated: false, durationMs: 5 };
const envelope = (event: JobEvent): JobEventEnvelope => ({ ...event, recordedAt: at });
const submitted: JobEvent = { type: 'JobSubmitted', data: { spec: JSON.parse(JSON.stringify(spec)) } };
const started: JobEvent = { type: 'JobStarted', data: { attempt: 1, workerId: 'w1' } };
const running = foldJob(jobDecider.initialState(), [submitted, started].map(envelope));

const refusals = (count: number) =>
  Array.from({ length: count }, (_, index) => ({
    path: `/out/f${index}`,
    reason: 'too-many' as const,
    detail: 'at most 32 outputs are kept per attempt',
  }));

describe('what one attempt may write to its stream', () => {
  it('records at most the cap of refusals, the last one summing up the rest', () => {
    const events = jobDecider.decide(
      {
        type: 'CompleteAttempt',
        attempt: 1,
        now: at,
        random: 0,
        result: { reason: 'exited', ...output, refusedOutputs: refusals(100_000) },
      },
      running,
    );
    const refused = events.filter((event) => event.type === 'ArtifactRefused');
    expect(refused).toHaveLength(attemptCaps.refusedOutputs);
    expect(refused[0]?.data).toMatchObject({ attempt: 1, path: '/out/f0', reason: 'too-many' });
    expect(refused.at(-1)?.data).toEqual({
      attempt: 1,
      path: '/out',
      reason: 'too-many',
      detail: '99,901 more files were not kept (too-many: 99,901)',
    });
    expect(events.at(-1)?.type).toBe('JobSucceeded');
  });

  it('counts a summary it folds in as every file that summary stood for', () => {
    const summary = {
      path: '/out',
      reason: 'too-many' as const,
      detail: '1,000 more files were not kept (too-many: 990, symlink: 10)',
    };
    const events = jobDecider.decide(
      {
        type: 'CompleteAttempt',
        attempt: 1,
        now: at,
        random: 0,
        result: { reason: 'exited', ...output, refusedOutputs: [...refusals(120), summary] },
      },
      running,
    );
    const refused = events.filter((event) => event.type === 'ArtifactRefused');
    expect(refused).toHaveLength(attemptCaps.refusedOutputs);
    // 21 listed refusals past the cap, plus the 1,000 the folded summary stood for.
    expect(refused.at(-1)?.data.detail).toBe('1,021 more files were not kept (too-many: 1,011, symlink: 10)');
  });

  it('folds a history of 200,000 refusals in linear time, keeping every one in order', () => {
    // Copying the list per event (the old fold) takes minutes here; one step per event, milliseconds.
    const history = [
      submitted,
      started,
      ...refusals(200_000).map(
        (refused): JobEvent => ({
          type: 'ArtifactRefused',
          data: { attempt: 1, ...refused },
        }),
      ),
    ].map(envelope);
    // CPU time, not wall time: the suite shares its cores (see scheduler-times.ts).
    const startedAt = schedulerTimesMs().running;
    const state = foldJob(jobDecider.initialState(), history);
    expect(schedulerTimesMs().running - startedAt).toBeLessThan(3_000);
    expect(state.status).toBe('running');
    const kept = state.status === 'initial' ? [] : recordsOf(state.refusedOutputs);
    expect(kept).toHaveLength(200_000);
    expect(kept[0]?.path).toBe('/out/f0');
    expect(kept.at(-1)?.path).toBe('/out/f199999');
  });
});

describe('collecting a /out of 100,000 files', () => {
  /** One ustar header of an empty entry: what busybox's `tar -c` writes for each empty file. */
  function header(name: string, type: '0' | '5'): Buffer {
    const block = Buffer.alloc(512);
    block.write(name, 0);
    block.write('0000644\0', 100);
    block.write('0000000\0', 108);
    block.write('0000000\0', 116);
    block.write('00000000000\0', 124);
    block.write('00000000000\0', 136);
    block.write('        ', 148);
    block.write(type, 156);
    block.write('ustar\0' + '00', 257);
    let sum = 0;
    for (const byte of block) sum += byte;
    block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    return block;
  }

  const archiveOf = (count: number): Buffer =>
    Buffer.concat([
      header('out/', '5'),
      ...Array.from({ length: count }, (_, index) => header(`out/f${index}`, '0')),
      Buffer.alloc(1024),
    ]);

  it('keeps the capped files, lists the first refusals, counts the rest, and never stalls the event loop', async () => {
    const archive = archiveOf(100_000);
    // CPU time this thread spent between two ticks: work that held the event loop (see scheduler-times.ts).
    let worstHeldMs = 0;
    let last = schedulerTimesMs().running;
    const ticker = setInterval(() => {
      const now = schedulerTimesMs().running;
      worstHeldMs = Math.max(worstHeldMs, now - last);
      last = now;
    }, 5);
    const collected = await collectOutputs(archive, ['/out/*'], { maxBytes: 1024, maxCount: 32 });
    clearInterval(ticker);
    expect(collected.files).toHaveLength(32);
    expect(collected.refused).toHaveLength(attemptCaps.refusedOutputs);
    expect(collected.refused.at(-1)).toEqual({
      path: '/out',
      reason: 'too-many',
      detail: '99,869 more files were not kept (too-many: 99,869)',
    });
    // Other requests on the worker's process keep being served while the archive is read.
    expect(worstHeldMs).toBeLessThan(100);
  }, 30_000);
});
