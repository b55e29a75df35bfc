import { randomUUID } from 'node:crypto';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore, type EventStore } from '../../events/event-store.ts';
import { executeJobCommand } from '../../jobs/job-stream.ts';
import { resolveJobSpec } from '../../jobs/resolve-job-spec.ts';
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

beforeAll(async () => {
  database = await createTestDatabase('worker_crash');
  store = createEventStore(database.db);
});
afterAll(async () => {
  for (const role of processes) await role.kill();
  // Every container this deployment made carries its prefix; none may outlive the test.
  const leftovers = await docker.listContainers({
    all: true,
    filters: { label: [`omni.deployment=${prefix}`] },
  });
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
  WORKER_LEASE_MS: '2000',
  RECONCILE_INTERVAL_MS: '500',
  LOG_LEVEL: 'info',
});

async function until<T>(read: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await read();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`not met within ${timeoutMs} ms`);
}

const containersOf = (jobId: string, attempt: number) =>
  docker.listContainers({
    all: true,
    filters: { label: [`${sandboxLabels.jobId}=${jobId}`, `${sandboxLabels.attempt}=${attempt}`] },
  });

describe('a worker killed mid-run', () => {
  it('has its container reaped and its attempt recorded abandoned, then retried per policy', async () => {
    processes.push(startRoleProcess('dispatcher', env()));
    const firstWorker = startRoleProcess('worker', env());
    processes.push(firstWorker);

    const jobId = randomUUID();
    // Retried when abandoned only; the second attempt then times out and the job fails for good.
    const spec = resolveJobSpec(
      {
        image: testImage,
        command: ['sleep', '30'],
        timeoutMs: 4_000,
        retry: { maxAttempts: 2, on: ['abandoned'], backoff: { initialMs: 100 } },
      },
      testPolicy,
    );
    await executeJobCommand(
      store,
      jobId,
      { type: 'SubmitJob', spec, now: new Date() },
      { actor: 'crash-test' },
    );

    await until(async () =>
      (await containersOf(jobId, 1)).some((c) => c.State === 'running') ? true : undefined,
    );
    await firstWorker.kill('SIGKILL');
    // The container outlives its worker until someone reaps it.
    expect((await containersOf(jobId, 1)).length).toBe(1);

    processes.push(startRoleProcess('worker', env()));
    await until(async () => ((await containersOf(jobId, 1)).length === 0 ? true : undefined));

    const history = await until(async () => {
      const events = await store.readStream(`job-${jobId}`);
      return events.some(
        (event) => event.type === 'JobFailed' && (event.data as { attempt?: number }).attempt === 2,
      )
        ? events
        : undefined;
    }, 60_000);
    const types = history.map((event) => event.type).filter((type) => type !== 'JobOutput');
    expect(types).toEqual([
      'JobSubmitted',
      'JobStarted',
      'JobAttemptAbandoned',
      'JobRetryScheduled',
      'JobStarted',
      'JobFailed',
    ]);
    expect(history.find((event) => event.type === 'JobAttemptAbandoned')?.data).toMatchObject({
      attempt: 1,
      reason: 'worker-lost',
    });
    expect(history.at(-1)?.data).toMatchObject({ attempt: 2, reason: 'timeout' });
    await until(async () => ((await containersOf(jobId, 2)).length === 0 ? true : undefined));
  });
});
