import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import Docker from 'dockerode';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore, type EventStore } from '../../events/event-store.ts';
import { defaultJobTenant } from '../../jobs/job.evolve.ts';
import { executeJobCommand, jobStreamId, loadJob } from '../../jobs/job-stream.ts';
import { toJobView } from '../../jobs/job-view.ts';
import { jobEventSchemas } from '../../schemas/job-events.schema.ts';
import type { ResolvedJobSpec } from '../../schemas/job-spec.schema.ts';
import type { RunJobMessage } from '../../workers/job-queue.ts';
import { createRunJobProcessor } from '../../workers/run-job.processor.ts';
import { createDockerSandbox, type DockerSandbox } from '../../workers/sandbox/docker-sandbox.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { ensureTestImage, testImage } from '../support/test-image.ts';
import { testPolicy } from '../support/test-policy.ts';

// Each attempt's record says where it ran: the runtime, warm or cold, and whether the OOM killer
// struck; the job view shows it, and attempts recorded before this still read.
const testRun = randomUUID();
const docker = new Docker();
let database: TestDatabase;
let store: EventStore;
const sandboxes: DockerSandbox[] = [];

beforeAll(async () => {
  await ensureTestImage();
  database = await createTestDatabase('sandbox-provenance');
  store = createEventStore(database.db);
}, 120_000);
afterAll(async () => {
  for (const sandbox of sandboxes) await sandbox.close();
  const leftovers = await docker.listContainers({
    all: true,
    filters: { label: [`omni.test-run=${testRun}`] },
  });
  for (const container of leftovers) await docker.getContainer(container.Id).remove({ force: true });
  await database?.destroy();
  expect(leftovers).toEqual([]);
});

async function runJob(warmPoolSize: number, command: string[]) {
  const sandbox = createDockerSandbox({
    docker,
    policy: testPolicy,
    extraLabels: { 'omni.test-run': testRun },
    warmPool: { size: warmPoolSize, workerId: `worker-${testRun}` },
  });
  sandboxes.push(sandbox);
  const spec: ResolvedJobSpec = {
    image: testImage,
    command,
    env: {},
    timeoutMs: 10_000,
    limits: testPolicy.defaults,
  };
  if (warmPoolSize > 0) {
    const { imageId } = await sandbox.prepare(spec);
    expect(await sandbox.warmUp(spec, imageId)).toBe(true);
  }
  const processor = createRunJobProcessor({
    store,
    sandbox,
    workerId: `worker-${testRun}`,
    logger: pino({ level: 'silent' }),
  });
  const jobId = randomUUID();
  await executeJobCommand(store, jobId, { type: 'SubmitJob', spec }, { actor: 'test' });
  expect(
    await processor({ data: { jobId, attempt: 1, tenant: defaultJobTenant } } as Job<RunJobMessage>),
  ).toBe('ran');
  const events = await store.readStream(jobStreamId(jobId));
  const loaded = await loadJob(store, jobId);
  if (loaded.state.status === 'initial') throw new Error('the job was never recorded');
  return { last: events.at(-1), view: toJobView(jobId, loaded.state) };
}

describe('attempt provenance', () => {
  it('records the runtime and the cold path on the result, and shows them', async () => {
    const { last, view } = await runJob(0, ['echo', 'hi']);
    expect(last).toMatchObject({
      type: 'JobSucceeded',
      data: { runtime: 'runc', sandboxPath: 'cold', oom: false },
    });
    expect(view).toMatchObject({ status: 'succeeded', runtime: 'runc', sandboxPath: 'cold', oom: false });
  });

  it('records the warm path', async () => {
    const { last, view } = await runJob(1, ['echo', 'hi']);
    expect(last).toMatchObject({ type: 'JobSucceeded', data: { sandboxPath: 'warm', runtime: 'runc' } });
    expect(view).toMatchObject({ sandboxPath: 'warm' });
  });

  it('flags an attempt the OOM killer ended beside its reason', async () => {
    const { last, view } = await runJob(1, ['sh', '-c', 'x=a; while true; do x=$x$x; done']);
    expect(last).toMatchObject({
      type: 'JobFailed',
      data: { reason: 'oom', oom: true, sandboxPath: 'warm' },
    });
    expect(view).toMatchObject({ failureReason: 'oom', oom: true });
  });

  it('still reads a result recorded before provenance was', () => {
    const old = {
      attempt: 1,
      exitCode: 0,
      stdout: 'hi\n',
      stderr: '',
      outputTruncated: false,
      durationMs: 5,
    };
    expect(jobEventSchemas.JobSucceeded.data.parse(old)).toEqual(old);
    expect(() => jobEventSchemas.JobSucceeded.data.parse({ ...old, sandboxPath: 'lukewarm' })).toThrow();
  });
});
