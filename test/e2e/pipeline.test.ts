import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultJobTenant } from '../../jobs/job.evolve.ts';
import { executeJobCommand, jobStreamId } from '../../jobs/job-stream.ts';
import { resolveJobSpec } from '../../jobs/resolve-job-spec.ts';
import type { RunJobMessage } from '../../workers/job-queue.ts';
import { testImage } from '../support/test-image.ts';
import { testPolicy } from '../support/test-policy.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

let stack: TestStack;
let auth: { authorization: string };

beforeAll(async () => {
  stack = await startTestStack('pipeline');
  auth = { authorization: `Bearer ${await stack.token('pipeline-user')}` };
});
afterAll(async () => {
  const leftovers = await stack?.leftoverContainers();
  await stack?.stop();
  expect(leftovers).toEqual([]);
});

interface JobView {
  id: string;
  status: string;
  exitCode: number | null;
  stdout: string | null;
  stderr: string | null;
  failureReason: string | null;
}

async function submit(command: string[]): Promise<string> {
  const response = await stack.app.request('/v1/jobs', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth },
    body: JSON.stringify({ image: testImage, command }),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

/** Polls the API as a client would, until the job is finished. */
async function awaitFinished(id: string, timeoutMs = 30_000): Promise<JobView> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const job = (await (await stack.app.request(`/v1/jobs/${id}`, { headers: auth })).json()) as JobView;
    if (job.status === 'succeeded' || job.status === 'failed') return job;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`job ${id} did not finish in ${timeoutMs} ms`);
}

async function eventTypes(id: string) {
  const response = await stack.app.request(`/v1/jobs/${id}/events`, { headers: auth });
  return ((await response.json()) as { events: Array<{ type: string; metadata: { actor: string } }> }).events;
}

describe('submit → dispatch → sandbox → result', () => {
  it('runs echo hello and records JobSubmitted, JobStarted, JobSucceeded', async () => {
    const id = await submit(['echo', 'hello']);
    const job = await awaitFinished(id);
    expect(job).toMatchObject({ status: 'succeeded', exitCode: 0, stdout: 'hello\n', stderr: '' });
    const events = await eventTypes(id);
    // The live output chunk is appended before the result, so the order is fixed.
    expect(events.map((e) => e.type)).toEqual(['JobSubmitted', 'JobStarted', 'JobOutput', 'JobSucceeded']);
    expect(events[0]?.metadata.actor).toBe('pipeline-user');
    expect(events[1]?.metadata.actor).toMatch(/^worker:/);
  });

  it('records a non-zero exit as failed with its code and stderr', async () => {
    const job = await awaitFinished(await submit(['sh', '-c', 'echo oops >&2; exit 7']));
    expect(job).toMatchObject({
      status: 'failed',
      exitCode: 7,
      failureReason: 'exit-code',
      stderr: 'oops\n',
    });
  });

  it('gives the job no network: only the loopback interface, and connections fail', async () => {
    const job = await awaitFinished(
      await submit([
        'sh',
        '-c',
        'cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " "; wget -q -T 2 -O- http://10.255.255.1/ || echo NO-NETWORK',
      ]),
    );
    expect(job.stdout?.trim().split('\n')).toEqual(['lo', 'NO-NETWORK']);
  });

  it('cannot write to its root filesystem', async () => {
    const job = await awaitFinished(await submit(['sh', '-c', 'touch /pwned && echo WROTE || echo REFUSED']));
    expect(job.stdout).toBe('REFUSED\n');
    expect(job.stderr).toMatch(/Read-only file system/);
  });
});

describe('at-least-once delivery', () => {
  it('starts an attempt once when the same message is delivered twice', async () => {
    // Submitted straight to the store: the running dispatcher also enqueues it, so the attempt
    // sees three deliveries in all (two simulated, one real); only one may start it.
    const id = randomUUID();
    await executeJobCommand(
      stack.store,
      id,
      {
        type: 'SubmitJob',
        spec: resolveJobSpec({ image: testImage, command: ['echo', 'once'] }, testPolicy),
      },
      { actor: 'test' },
    );
    const message = { data: { jobId: id, attempt: 1, tenant: defaultJobTenant } } as Job<RunJobMessage>;
    const outcomes = await Promise.all([stack.processor(message), stack.processor(message)]);
    expect(outcomes.filter((outcome) => outcome === 'ran').length).toBeLessThanOrEqual(1);
    await awaitFinished(id);
    const events = await eventTypes(id);
    expect(events.filter((e) => e.type === 'JobStarted')).toHaveLength(1);
    expect(events.map((e) => e.type)).toEqual(['JobSubmitted', 'JobStarted', 'JobOutput', 'JobSucceeded']);
  });
});

describe('a result that arrives too late', () => {
  it('is not recorded when the attempt was ended elsewhere while it ran, output chunks or not', async () => {
    const id = randomUUID();
    await executeJobCommand(
      stack.store,
      id,
      {
        type: 'SubmitJob',
        spec: resolveJobSpec(
          {
            image: testImage,
            command: ['sh', '-c', 'echo before; sleep 1.5; echo after'],
            retry: { maxAttempts: 1 },
          },
          testPolicy,
        ),
      },
      { actor: 'test' },
    );
    const started = await until(async () => {
      const events = await stack.store.readStream(jobStreamId(id));
      return events.some((e) => e.type === 'JobOutput')
        ? events.find((e) => e.type === 'JobStarted')
        : undefined;
    });
    // What the reconciler records when it judges the worker dead while the run goes on.
    await executeJobCommand(
      stack.store,
      id,
      {
        type: 'AbandonAttempt',
        attempt: 1,
        workerId: (started.data as { workerId: string }).workerId,
        reason: 'worker-lost',
        now: new Date(),
        random: 0,
      },
      { actor: 'reconciler' },
    );
    await until(async () =>
      stack.logs().some((line) => line.includes(id) && line.includes('the attempt was ended elsewhere'))
        ? true
        : undefined,
    );
    const types = (await stack.store.readStream(jobStreamId(id)))
      .map((e) => e.type)
      .filter((type) => type !== 'JobOutput');
    expect(types).toEqual(['JobSubmitted', 'JobStarted', 'JobAttemptAbandoned']);
  });
});

async function until<T>(read: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await read();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`not met within ${timeoutMs} ms`);
}
