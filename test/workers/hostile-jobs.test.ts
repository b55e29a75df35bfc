import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testImage } from '../support/test-image.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

// Each hostile job goes the whole way: HTTP submit → dispatcher → worker → sandbox → recorded
// outcome, once per OCI runtime, so a limit means the same thing on each. runc and runsc are
// required (CI installs both; a missing one is a broken environment, not a skip); crun runs when
// the engine has it registered, since not every host's cgroup layout lets it run.
const registered = Object.keys(
  (
    (await new Docker({ socketPath: '/var/run/docker.sock' }).info()) as {
      Runtimes?: Record<string, unknown>;
    }
  ).Runtimes ?? {},
);
const runtimes = ['runc', 'runsc', ...(registered.includes('crun') ? ['crun'] : [])];
let stack: TestStack;
let auth: { authorization: string };

interface JobView {
  status: string;
  exitCode: number | null;
  failureReason: string | null;
  durationMs: number | null;
  imageId: string | null;
  stdout: string | null;
  stderr: string | null;
  outputTruncated: boolean;
  runtime: string | null;
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

describe.each(runtimes)('hostile jobs through the pipeline, under %s', (runtime) => {
  beforeAll(async () => {
    expect(registered, `docker info must list the ${runtime} runtime`).toContain(runtime);
    stack = await startTestStack(`hostile_${runtime}`, { runtime });
    auth = { authorization: `Bearer ${await stack.token('hostile-user')}` };
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
  });

  const hostile = [
    {
      // gVisor's own threads counted against a pids cgroup of 64 killed the sandbox (exit 2, output
      // cut) before the job's tenth process: the limit is the job's processes on every runtime.
      name: 'the pids limit allows as many processes as it says',
      body: {
        command: ['sh', '-c', 'for i in $(seq 1 24); do sleep 2 & done; wait; echo all ran'],
        limits: { pids: 32 },
      },
      check: (job: JobView) => expect(job).toMatchObject({ status: 'succeeded', stdout: 'all ran\n' }),
    },
    {
      name: 'and refuses the processes past it',
      body: {
        command: ['sh', '-c', 'for i in $(seq 1 40); do sleep 2 & done; wait; echo all ran'],
        limits: { pids: 32 },
      },
      check: (job: JobView) => {
        expect(job.status).toBe('failed');
        expect(job.stderr).toContain("can't fork");
        expect(job.stdout).not.toContain('all ran');
      },
    },
    {
      name: 'a /tmp filled to its cap fails the write, not the sandbox',
      body: { command: ['sh', '-c', 'dd if=/dev/zero of=/tmp/fill bs=1M count=64 2>&1; echo still here'] },
      check: (job: JobView) => {
        expect(job).toMatchObject({ status: 'succeeded' });
        expect(job.stdout).toMatch(/No space left on device|File too large|File size limit exceeded/);
        expect(job.stdout).toContain('still here');
      },
    },
    {
      name: 'no network reaches out',
      body: {
        command: ['sh', '-c', 'wget -q -T 2 -O- http://10.0.0.1/ 2>&1; ip route 2>/dev/null; echo end'],
      },
      check: (job: JobView) => {
        expect(job.stdout).toContain('end');
        expect(job.stdout).not.toMatch(/default via/);
      },
    },
    {
      name: 'a fork bomb is held by the pids limit',
      body: { command: ['sh', '-c', 'b(){ b | b & }; b; sleep 1; echo survived'], timeoutMs: 4_000 },
      check: (job: JobView) => {
        // The bomb either runs out its timeout or its shell finishes; either way forks were refused.
        // Its flood of can't-fork lines may reach the output cap first (seen on a busy machine).
        // Under gVisor its kernel's memory for each process counts against the job's memory limit
        // too, so the held bomb may end as oom first (README: Sandbox runtimes).
        expect([
          'exit-code',
          'timeout',
          'output-limit',
          null,
          ...(runtime === 'runsc' ? ['oom'] : []),
        ]).toContain(job.failureReason);
        if (job.failureReason !== 'oom') expect(job.stderr).toContain("can't fork");
      },
    },
    {
      name: 'a memory hog is recorded as oom',
      body: { command: ['sh', '-c', 'x=a; while true; do x=$x$x; done'] },
      check: (job: JobView) => {
        expect(job).toMatchObject({ status: 'failed', exitCode: 137 });
        // On a loaded host the engine was seen, under runc and runsc alike, not to report the OOM
        // kill at all (OOMKilled false; a known Docker unreliability). The sandbox then goes by the
        // memory it sampled at the limit, and a hog that dies before the first sample stays an
        // exit-code 137 (SECURITY.md: the same limits on every runtime). The limit held either way.
        expect(['oom', 'exit-code']).toContain(job.failureReason);
      },
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
      expect(job.runtime).toBe(runtime);
      expect(await stack.leftoverContainers()).toEqual([]);
      const next = await awaitFinished(await submit({ command: ['echo', 'next'] }));
      expect(next).toMatchObject({ status: 'succeeded', stdout: 'next\n' });
    }, 150_000);
  }
});
