import { randomUUID } from 'node:crypto';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore, type EventStore, type RecordedEvent } from '../../events/event-store.ts';
import { executeJobCommand, jobStreamId } from '../../jobs/job-stream.ts';
import { resolveJobSpec } from '../../jobs/resolve-job-spec.ts';
import type { JobSpecInput } from '../../schemas/job-spec.schema.ts';
import { sandboxLabels } from '../../workers/sandbox/container-options.ts';
import { type RoleProcess, startRoleProcess } from '../support/role-process.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { testImage } from '../support/test-image.ts';
import { testPolicy } from '../support/test-policy.ts';

let database: TestDatabase;
let store: EventStore;
const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const prefix = `test-${randomUUID()}`;
const processes: RoleProcess[] = [];
const graceMs = 3_000;

beforeAll(async () => {
  database = await createTestDatabase('worker_shutdown');
  store = createEventStore(database.db);
});
afterAll(async () => {
  for (const role of processes) await role.kill();
  const leftovers = await deploymentContainers();
  for (const container of leftovers) await docker.getContainer(container.Id).remove({ force: true });
  await database?.destroy();
  expect(leftovers).toEqual([]);
});

const env = () => ({
  DATABASE_URL: database.url,
  REDIS_URL: 'redis://127.0.0.1:6379',
  QUEUE_PREFIX: prefix,
  SANDBOX_IMAGES: testImage,
  // Cold path: these attempts' containers are found by their job labels, which a container started
  // ahead cannot carry (the warm pool's crash and shutdown are sandbox-warm-pool.test.ts's).
  SANDBOX_WARM_POOL_SIZE: '0',
  WORKER_CONCURRENCY: '4',
  WORKER_SHUTDOWN_GRACE_MS: String(graceMs),
  WORKER_LEASE_MS: '2000',
  RECONCILE_INTERVAL_MS: '500',
  LOG_LEVEL: 'info',
});

const deploymentContainers = () =>
  docker.listContainers({ all: true, filters: { label: [`omni.deployment=${prefix}`] } });

async function until<T>(read: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await read();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`not met within ${timeoutMs} ms`);
}

async function submit(input: JobSpecInput): Promise<string> {
  const jobId = randomUUID();
  const spec = resolveJobSpec(input, testPolicy);
  await executeJobCommand(
    store,
    jobId,
    { type: 'SubmitJob', spec, now: new Date() },
    { actor: 'shutdown-test' },
  );
  return jobId;
}

const history = async (jobId: string): Promise<readonly RecordedEvent[]> =>
  (await store.readStream(jobStreamId(jobId))).filter((event) => event.type !== 'JobOutput');
const types = async (jobId: string) => (await history(jobId)).map((event) => event.type);
const dataOf = (event: RecordedEvent | undefined) => event?.data as Record<string, unknown> | undefined;

describe('a worker process sent SIGTERM', () => {
  it('takes no new work, lets a short run finish, records a long one abandoned, then exits 0 by itself', async () => {
    processes.push(startRoleProcess('dispatcher', env()));
    const worker = startRoleProcess('worker', env());
    processes.push(worker);

    const short = await submit({ image: testImage, command: ['sleep', '1'] });
    // Longer than the grace period: abandoned at its end, then retried once, and that run times out.
    const long = await submit({
      image: testImage,
      command: ['sleep', '30'],
      timeoutMs: 5_000,
      retry: { maxAttempts: 2, on: ['abandoned'], backoff: { initialMs: 100 } },
    });
    await until(async () => {
      const running = (await deploymentContainers()).filter((c) => c.State === 'running');
      return running.length === 2 ? true : undefined;
    });

    const exited = new Promise<{ code: number | null; signal: string | null; at: number }>((resolve) =>
      worker.child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
    );
    const signalledAt = Date.now();
    worker.child.kill('SIGTERM');
    // Work that arrives during the grace period is left for another worker.
    const late = await submit({ image: testImage, command: ['true'] });

    const exit = await exited;
    expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null });
    expect(exit.at - signalledAt).toBeLessThan(graceMs + 4_000);
    expect(exit.at - signalledAt).toBeGreaterThanOrEqual(graceMs - 100);

    expect(await types(short)).toEqual(['JobSubmitted', 'JobStarted', 'JobSucceeded']);
    const longEvents = await history(long);
    expect(longEvents.map((event) => event.type)).toEqual([
      'JobSubmitted',
      'JobStarted',
      'JobAttemptAbandoned',
      'JobRetryScheduled',
    ]);
    const firstWorker = dataOf(longEvents[1])?.workerId;
    expect(dataOf(longEvents[2])).toMatchObject({ attempt: 1, reason: 'shutdown', workerId: firstWorker });
    // Neither the late job nor the retry was started by the worker that was shutting down, and it
    // left no container behind.
    expect(await types(late)).toEqual(['JobSubmitted']);
    expect(await deploymentContainers()).toEqual([]);

    // A successor runs what was left: the retry (which then times out, so the job fails for good) and the late job.
    processes.push(startRoleProcess('worker', env()));
    const finished = await until(async () => {
      const events = await history(long);
      return events.at(-1)?.type === 'JobFailed' ? events : undefined;
    });
    expect(finished.slice(4).map((event) => event.type)).toEqual(['JobStarted', 'JobFailed']);
    expect(dataOf(finished[4])?.workerId).not.toBe(firstWorker);
    expect(dataOf(finished[5])).toMatchObject({ attempt: 2, reason: 'timeout' });
    await until(async () => ((await types(late)).at(-1) === 'JobSucceeded' ? true : undefined));
    await until(async () => ((await deploymentContainers()).length === 0 ? true : undefined));
    expect(
      (await deploymentContainers()).filter((c) => c.Labels[sandboxLabels.workerId] === firstWorker),
    ).toEqual([]);
  }, 90_000);
});
