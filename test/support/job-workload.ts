import { randomUUID } from 'node:crypto';
import type { EventStore } from '../../events/event-store.ts';
import { executeJobCommand } from '../../jobs/job-stream.ts';
import type { ResolvedJobSpec } from '../../schemas/job-spec.schema.ts';

const workloadSpec: ResolvedJobSpec = {
  image: 'omni-busybox:latest',
  command: ['echo', 'hi'],
  env: {},
  timeoutMs: 1000,
  limits: { memoryBytes: 64 * 1024 * 1024, cpus: 1, pids: 16 },
};

const output = { stdout: 'hi\n', stderr: '', outputTruncated: false, durationMs: 12 };

/**
 * Drives one job through the real decider to where `ending` says: left queued, left running,
 * succeeded, failed with an exit code, or timed out. Returns the job id.
 */
export async function runJobTo(
  store: EventStore,
  ending: 'queued' | 'running' | 'succeeded' | 'failed' | 'timeout',
  tenant?: string,
): Promise<string> {
  const id = randomUUID();
  const metadata = { actor: `user-${id.slice(0, 4)}`, ...(tenant === undefined ? {} : { tenant }) };
  await executeJobCommand(store, id, { type: 'SubmitJob', spec: workloadSpec }, metadata);
  if (ending === 'queued') return id;
  await executeJobCommand(store, id, { type: 'StartAttempt', attempt: 1, workerId: 'worker-a' }, metadata);
  if (ending === 'running') return id;
  const result =
    ending === 'succeeded'
      ? { reason: 'exited' as const, exitCode: 0, ...output }
      : ending === 'failed'
        ? { reason: 'exited' as const, exitCode: 3, ...output }
        : { reason: 'timeout' as const, exitCode: null, ...output, message: 'took too long' };
  await executeJobCommand(
    store,
    id,
    { type: 'CompleteAttempt', attempt: 1, result, now: new Date(), random: 0 },
    metadata,
  );
  return id;
}

/** A mixed workload: every ending, several writers at once. */
export async function runMixedWorkload(store: EventStore, jobs: number): Promise<readonly string[]> {
  const endings = ['queued', 'running', 'succeeded', 'failed', 'timeout'] as const;
  return Promise.all(
    Array.from({ length: jobs }, (_, i) =>
      runJobTo(store, endings[i % endings.length] ?? 'queued', i % 3 === 0 ? 'acme' : undefined),
    ),
  );
}
