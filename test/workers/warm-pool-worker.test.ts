import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxLabels } from '../../workers/sandbox/container-options.ts';
import { testImage } from '../support/test-image.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

// The warm pool as the worker role wires it: jobs submitted over HTTP run in containers started
// ahead, the job view says so, and stopping the worker drains the pool.
let stack: TestStack;
let auth: { authorization: string };

beforeAll(async () => {
  stack = await startTestStack('warm-pool-worker', { warmPoolSize: 2 });
  auth = { authorization: `Bearer ${await stack.token('warm-user')}` };
}, 60_000);
afterAll(async () => {
  await stack?.stop();
});

interface JobView {
  status: string;
  stdout: string | null;
  sandboxPath: string | null;
  runtime: string | null;
  oom: boolean | null;
}

async function runJob(command: string[]): Promise<JobView> {
  const submitted = await stack.app.request('/v1/jobs', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth },
    body: JSON.stringify({ image: testImage, command }),
  });
  expect(submitted.status).toBe(202);
  const { id } = (await submitted.json()) as { id: string };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const job = (await (await stack.app.request(`/v1/jobs/${id}`, { headers: auth })).json()) as JobView;
    if (job.status !== 'queued' && job.status !== 'running') return job;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`job ${id} did not finish`);
}

const warmContainers = async () =>
  (
    await stack.docker.listContainers({ all: true, filters: { label: [`${sandboxLabels.warm}=true`] } })
  ).filter(
    (container) => stack.runId === Object.values(container.Labels).find((value) => value === stack.runId),
  );

describe('the worker with a warm pool', () => {
  it('runs jobs in containers started ahead, shows it in the job view, and drains the pool on stop', async () => {
    // The first job of its profile waits for the container being started for it.
    const first = await runJob(['echo', 'one']);
    expect(first).toMatchObject({
      status: 'succeeded',
      stdout: 'one\n',
      sandboxPath: 'warm',
      runtime: 'runc',
      oom: false,
    });
    const second = await runJob(['sh', '-c', 'echo two; ls -A /tmp']);
    expect(second).toMatchObject({ status: 'succeeded', stdout: 'two\n', sandboxPath: 'warm' });
    expect((await warmContainers()).length).toBeGreaterThan(0);

    await stack.stopWorker();
    expect(await warmContainers()).toEqual([]);
    expect(await stack.leftoverContainers()).toEqual([]);
  }, 120_000);
});
