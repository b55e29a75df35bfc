import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testImage } from '../support/test-image.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

// Each hostile job goes the whole way: HTTP submit → dispatcher → worker → sandbox → recorded outcome.
let stack: TestStack;
let auth: { authorization: string };

beforeAll(async () => {
  stack = await startTestStack('hostile');
  auth = { authorization: `Bearer ${await stack.token('hostile-user')}` };
}, 60_000);
afterAll(async () => {
  await stack?.stop();
});

interface JobView {
  status: string;
  exitCode: number | null;
  failureReason: string | null;
  durationMs: number | null;
  imageId: string | null;
  stdout: string | null;
  stderr: string | null;
  outputTruncated: boolean;
}

async function submit(body: Record<string, unknown>): Promise<string> {
  const response = await stack.app.request('/v1/jobs', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth },
    body: JSON.stringify({ image: testImage, ...body }),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

async function awaitFinished(id: string, timeoutMs = 60_000): Promise<JobView> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const job = (await (await stack.app.request(`/v1/jobs/${id}`, { headers: auth })).json()) as JobView;
    if (job.status !== 'queued' && job.status !== 'running') return job;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`job ${id} did not finish in ${timeoutMs} ms`);
}

describe('hostile jobs through the pipeline', () => {
  const hostile = [
    {
      name: 'a fork bomb is held by the pids limit',
      body: { command: ['sh', '-c', 'b(){ b | b & }; b; sleep 1; echo survived'], timeoutMs: 4_000 },
      check: (job: JobView) => {
        // The bomb either runs out its timeout or its shell finishes; either way forks were refused.
        expect(['exit-code', 'timeout', null]).toContain(job.failureReason);
        expect(job.stderr).toContain("can't fork");
      },
    },
    {
      name: 'a memory hog is recorded as oom',
      body: { command: ['sh', '-c', 'x=a; while true; do x=$x$x; done'] },
      check: (job: JobView) =>
        expect(job).toMatchObject({ status: 'failed', failureReason: 'oom', exitCode: 137 }),
    },
    {
      name: 'endless output is recorded as output-limit, truncated',
      body: { command: ['yes'] },
      check: (job: JobView) =>
        expect(job).toMatchObject({ status: 'failed', failureReason: 'output-limit', outputTruncated: true }),
    },
    {
      name: 'sleep 1000 is killed at its timeout',
      body: { command: ['sleep', '1000'], timeoutMs: 1_500 },
      check: (job: JobView) => {
        expect(job).toMatchObject({ status: 'failed', failureReason: 'timeout' });
        expect(job.durationMs).toBeGreaterThanOrEqual(1_400);
      },
    },
  ];

  for (const { name, body, check } of hostile) {
    it(`${name}, leaves no container, and the worker serves the next job`, async () => {
      const job = await awaitFinished(await submit(body));
      check(job);
      expect(job.durationMs).toEqual(expect.any(Number));
      expect(job.imageId).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(await stack.leftoverContainers()).toEqual([]);
      const next = await awaitFinished(await submit({ command: ['echo', 'next'] }));
      expect(next).toMatchObject({ status: 'succeeded', stdout: 'next\n' });
    }, 150_000);
  }
});
