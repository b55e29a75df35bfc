import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import Docker from 'dockerode';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore, type EventStore } from '../../events/event-store.ts';
import { defaultJobTenant } from '../../jobs/job.evolve.ts';
import { executeJobCommand, jobStreamId } from '../../jobs/job-stream.ts';
import type { ResolvedJobSpec } from '../../schemas/job-spec.schema.ts';
import type { RunJobMessage } from '../../workers/job-queue.ts';
import { createAttemptHoldings } from '../../workers/lifecycle/attempt-holdings.ts';
import { createWorkerLeases } from '../../workers/lifecycle/worker-leases.ts';
import { createRunJobProcessor } from '../../workers/run-job.processor.ts';
import { createDockerSandbox, type DockerSandbox } from '../../workers/sandbox/docker-sandbox.ts';
import { eventually } from '../support/eventually.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { ensureTestImage, testImage } from '../support/test-image.ts';
import { testPolicy } from '../support/test-policy.ts';

// A message the dispatcher queued carries the stream version it was queued at: the worker appends
// JobStarted there and reads the job's history in the same statement, instead of reading first.
// The version check keeps the log the judge; whatever moved the stream sends the worker back to
// reading and deciding.
const testRun = randomUUID();
const docker = new Docker();
let database: TestDatabase;
let store: EventStore;
let sandbox: DockerSandbox;
/** The job streams the worker read on its own (readStream), apart from the append. */
const reads: string[] = [];

const spec: ResolvedJobSpec = {
  image: testImage,
  command: ['echo', 'hi'],
  env: {},
  timeoutMs: 10_000,
  limits: testPolicy.defaults,
};

beforeAll(async () => {
  await ensureTestImage();
  database = await createTestDatabase('start-as-queued');
  store = createEventStore(database.db);
  sandbox = createDockerSandbox({ docker, policy: testPolicy, extraLabels: { 'omni.test-run': testRun } });
}, 120_000);
afterAll(async () => {
  await sandbox?.close();
  const leftovers = await docker.listContainers({
    all: true,
    filters: { label: [`omni.test-run=${testRun}`] },
  });
  for (const container of leftovers) await docker.getContainer(container.Id).remove({ force: true });
  await database?.destroy();
  expect(leftovers).toEqual([]);
});

function processorFor(workerId: string) {
  const counted: EventStore = {
    ...store,
    readStream: (streamId) => {
      reads.push(streamId);
      return store.readStream(streamId);
    },
  };
  return createRunJobProcessor({ store: counted, sandbox, workerId, logger: pino({ level: 'silent' }) });
}

async function submitted() {
  const jobId = randomUUID();
  await executeJobCommand(store, jobId, { type: 'SubmitJob', spec }, { actor: 'test' });
  const [first] = await store.readStream(jobStreamId(jobId));
  if (!first) throw new Error('not submitted');
  return { jobId, submittedEventId: first.eventId };
}

const messageOf = (jobId: string, queued?: RunJobMessage['queued']) =>
  ({
    data: { jobId, attempt: 1, tenant: defaultJobTenant, ...(queued ? { queued } : {}) },
  }) as Job<RunJobMessage>;

/** The job's events but its live output chunks. */
const historyOf = async (jobId: string) =>
  (await store.readStream(jobStreamId(jobId))).filter((event) => event.type !== 'JobOutput');

describe('a worker starting the attempt its message was queued at', () => {
  it('starts and runs it without reading the stream first, recording what a read-first start records', async () => {
    const fast = await submitted();
    const slow = await submitted();
    const worker = processorFor(`worker-${testRun}`);
    const readsBefore = reads.length;
    expect(
      await worker(
        messageOf(fast.jobId, { version: 1, image: testImage, causationId: fast.submittedEventId }),
      ),
    ).toBe('ran');
    expect(reads.slice(readsBefore)).toEqual([]);
    expect(await worker(messageOf(slow.jobId))).toBe('ran');
    expect(reads.slice(readsBefore)).toEqual([jobStreamId(slow.jobId)]);

    const [fastEvents, slowEvents] = [await historyOf(fast.jobId), await historyOf(slow.jobId)];
    expect(fastEvents.map((event) => event.type)).toEqual(['JobSubmitted', 'JobStarted', 'JobSucceeded']);
    expect(slowEvents.map((event) => event.type)).toEqual(fastEvents.map((event) => event.type));
    const [fastStart, slowStart] = [fastEvents[1], slowEvents[1]];
    expect(fastStart?.data).toEqual(slowStart?.data);
    expect(fastStart?.data).toMatchObject({
      attempt: 1,
      workerId: `worker-${testRun}`,
      imageId: expect.stringMatching(/^sha256:/),
    });
    expect(fastStart?.metadata).toMatchObject({
      actor: `worker-${testRun}`.replace(/^/, 'worker:'),
      correlationId: fast.jobId,
      causationId: fast.submittedEventId,
    });
    expect(fastEvents[2]?.data).toMatchObject({ attempt: 1, exitCode: 0, stdout: 'hi\n' });
  });

  it('is sent back to reading when the stream moved since: a job cancelled meanwhile is dropped and nothing runs', async () => {
    const { jobId, submittedEventId } = await submitted();
    await executeJobCommand(store, jobId, { type: 'CancelJob' }, { actor: 'test' });
    const readsBefore = reads.length;
    expect(
      await processorFor(`worker-${testRun}`)(
        messageOf(jobId, { version: 1, image: testImage, causationId: submittedEventId }),
      ),
    ).toBe('dropped');
    expect(reads.slice(readsBefore)).toEqual([jobStreamId(jobId)]);
    expect((await historyOf(jobId)).map((event) => event.type)).toEqual(['JobSubmitted', 'JobCancelled']);
  });

  it('runs an attempt once when two deliveries race for the same version', async () => {
    const { jobId, submittedEventId } = await submitted();
    const message = messageOf(jobId, { version: 1, image: testImage, causationId: submittedEventId });
    const outcomes = await Promise.all([
      processorFor('worker-a')(message),
      processorFor('worker-b')(message),
    ]);
    expect(outcomes.sort()).toEqual(['dropped', 'ran']);
    const types = (await historyOf(jobId)).map((event) => event.type);
    expect(types).toEqual(['JobSubmitted', 'JobStarted', 'JobSucceeded']);
  });

  it('leaves a message that is due later or past its queue deadline to the read-first path, which decides it', async () => {
    const { jobId, submittedEventId } = await submitted();
    const readsBefore = reads.length;
    // The job itself has no deadline: the read-first path starts it, as the log says.
    expect(
      await processorFor(`worker-${testRun}`)(
        messageOf(jobId, {
          version: 1,
          image: testImage,
          causationId: submittedEventId,
          expiresAtMs: Date.now() - 1,
        }),
      ),
    ).toBe('ran');
    expect(reads.slice(readsBefore)).toEqual([jobStreamId(jobId)]);
  });

  it('runs nothing for a message that misstates the cause, and records the attempt as a sandbox error', async () => {
    const { jobId } = await submitted();
    const outcome = await processorFor(`worker-${testRun}`)(
      messageOf(jobId, { version: 1, image: testImage, causationId: 'not-an-event' }),
    );
    expect(outcome).toBe('ran');
    const events = await historyOf(jobId);
    expect(events.map((event) => event.type)).toEqual(['JobSubmitted', 'JobStarted', 'JobFailed']);
    expect((events[2]?.data as { message?: string } | undefined)?.message).toContain(
      "named cause not-an-event, not the job's JobSubmitted; nothing was run",
    );
  });

  it('runs nothing for a message that misstates the image, and records the attempt as a sandbox error', async () => {
    const { jobId, submittedEventId } = await submitted();
    const outcome = await processorFor(`worker-${testRun}`)(
      messageOf(jobId, { version: 1, image: `${testImage}-other`, causationId: submittedEventId }),
    );
    expect(outcome).toBe('ran');
    const events = await historyOf(jobId);
    expect(events.map((event) => event.type)).toEqual(['JobSubmitted', 'JobStarted', 'JobFailed']);
    expect(events[2]?.data).toMatchObject({ reason: 'sandbox-error', exitCode: null, stdout: '' });
    expect((events[2]?.data as { message?: string } | undefined)?.message).toContain(
      `the job ${testImage}; nothing was run`,
    );
  });

  it('holds the attempt while its start is appended, and holds it again when that hold failed', async () => {
    const leases = createWorkerLeases(database.db);
    const workerId = `worker-hold-${testRun}`;
    await leases.renew(workerId, 60_000);
    const holdCalls: string[] = [];
    let failNext = true;
    const holdings = createAttemptHoldings(
      {
        ...leases,
        hold: async (worker, attempts) => {
          holdCalls.push(...attempts.map((held) => held.jobId));
          if (failNext) {
            failNext = false;
            // What the pool says when Postgres went away between the start and the hold.
            throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
          }
          await leases.hold(worker, attempts);
        },
      },
      workerId,
    );
    const processor = createRunJobProcessor({
      store,
      sandbox,
      workerId,
      logger: pino({ level: 'silent' }),
      holdings,
    });
    const { jobId, submittedEventId } = await submitted();
    expect(
      await processor(messageOf(jobId, { version: 1, image: testImage, causationId: submittedEventId })),
    ).toBe('ran');
    // The start held although its hold failed: the hold is written again (after keepTrying's first pause).
    await eventually(
      async () => holdCalls.filter((id) => id === jobId).length,
      (calls) => calls === 2,
    );
    expect((await historyOf(jobId)).map((event) => event.type)).toEqual([
      'JobSubmitted',
      'JobStarted',
      'JobSucceeded',
    ]);
  });
});
