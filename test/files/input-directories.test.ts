import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.ts';
import { testImage } from '../support/test-image.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

// Inputs where users expect them (/in, /workspace, /data/...), not only under /tmp: declared input
// directories, each a capped tmpfs made read-only once filled, and a working directory of the
// job's choosing, all the way from submit to the recorded outcome.
let stack: TestStack;
let auth: string;

beforeAll(async () => {
  stack = await startTestStack('input_dirs');
  auth = `Bearer ${await stack.token('alice', { tenant: 'acme' })}`;
});
afterAll(async () => {
  const leftovers = await stack?.leftoverContainers();
  await stack?.stop();
  expect(leftovers).toEqual([]);
});

interface JobView {
  status: string;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  inputDirectories: string[];
  workingDir: string;
}

function submit(spec: Record<string, unknown>) {
  return stack.app.request('/v1/jobs', {
    method: 'POST',
    headers: { authorization: auth, 'content-type': 'application/json' },
    body: JSON.stringify({ image: testImage, ...spec }),
  });
}

async function run(spec: Record<string, unknown>): Promise<JobView> {
  const response = await submit(spec);
  expect(response.status, await response.clone().text()).toBe(202);
  const { id } = (await response.json()) as { id: string };
  return eventually(
    async () =>
      (await (
        await stack.app.request(`/v1/jobs/${id}`, { headers: { authorization: auth } })
      ).json()) as JobView,
    (view) => view.status === 'succeeded' || view.status === 'failed',
    60_000,
  );
}

describe('input directories and the working directory', () => {
  it('places uploads and files in declared directories, read-only once filled, and starts where asked', async () => {
    const csv = 'a,b\n1,2\n';
    const uploaded = await stack.app.request('/v1/files?name=data.csv', {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'text/csv' },
      body: csv,
    });
    const file = (await uploaded.json()) as { id: string };
    const job = await run({
      inputDirectories: ['/in', '/workspace/src'],
      inputs: [{ file: file.id, path: '/in/data.csv' }],
      files: [{ path: '/workspace/src/main.sh', content: 'echo main ran in "$(pwd)"\n', mode: 0o755 }],
      workingDir: '/workspace/src',
      command: [
        'sh',
        '-c',
        [
          'cat /in/data.csv',
          './main.sh',
          'touch /in/new 2>/dev/null && echo wrote-in || echo in-refused',
          'echo x >> /workspace/src/main.sh 2>/dev/null && echo wrote-file || echo file-refused',
          'stat -c %a /in /in/data.csv /workspace/src/main.sh',
          'echo ok > /tmp/scratch && cat /tmp/scratch',
        ].join('; '),
      ],
    });
    expect(job).toMatchObject({
      status: 'succeeded',
      inputDirectories: ['/in', '/workspace/src'],
      workingDir: '/workspace/src',
    });
    expect(job.stdout).toBe(
      `${csv}main ran in /workspace/src\nin-refused\nfile-refused\n555\n444\n555\nok\n`,
    );
  });

  it('starts in an image directory that does not exist yet (made, read-only), and in /tmp by default', async () => {
    const elsewhere = await run({
      workingDir: '/app/work',
      command: ['sh', '-c', 'pwd; touch here 2>/dev/null || echo read-only'],
    });
    expect(elsewhere).toMatchObject({
      status: 'succeeded',
      stdout: '/app/work\nread-only\n',
      workingDir: '/app/work',
    });
    const plain = await run({ command: ['pwd'] });
    expect(plain).toMatchObject({
      status: 'succeeded',
      stdout: '/tmp\n',
      workingDir: '/tmp',
      inputDirectories: [],
    });
  });

  it('an empty declared directory is there, sealed, and capped like any input', async () => {
    const job = await run({
      inputDirectories: ['/data/set'],
      command: ['sh', '-c', 'ls -ld /data/set | cut -c1-10; df -k /data/set | tail -1'],
    });
    expect(job.status).toBe('succeeded');
    expect(job.stdout.split('\n')[0]).toBe('dr-xr-xr-x');
    // A tmpfs of its own, not the read-only root.
    expect(job.stdout).toMatch(/tmpfs/);
  });

  it.each([
    [{ files: [{ path: '/in/a.txt', content: 'x' }] }, '/files/0/path'],
    [{ inputDirectories: ['/etc'] }, '/inputDirectories/0'],
    [{ inputDirectories: ['/proc'] }, '/inputDirectories/0'],
    [{ inputDirectories: ['/tmp'] }, '/inputDirectories/0'],
    [{ inputDirectories: ['/out'] }, '/inputDirectories/0'],
    [{ inputDirectories: ['/a/b/c'] }, '/inputDirectories/0'],
    [{ inputDirectories: ['/in/..'] }, '/inputDirectories/0'],
    [{ inputDirectories: ['/in', '/in/sub'] }, '/inputDirectories/1'],
    [{ inputDirectories: ['/in', '/in'] }, '/inputDirectories'],
    [{ inputDirectories: ['/a', '/b', '/c', '/d', '/e'] }, '/inputDirectories'],
    [{ inputDirectories: ['/in'], files: [{ path: '/in', content: 'x' }] }, '/files/0/path'],
    [{ workingDir: '/tmp/../etc' }, '/workingDir'],
    [{ workingDir: 'relative' }, '/workingDir'],
  ])('refuses %j with a pointer to %s, and runs nothing', async (spec, pointer) => {
    const response = await submit({ command: ['true'], ...spec });
    expect(response.status).toBe(400);
    const problem = (await response.json()) as { code: string; errors: { pointer: string }[] };
    expect(problem.code).toBe('validation-failed');
    expect(problem.errors.map((error) => error.pointer)).toContain(pointer);
  });

  it('a schedule cannot store a job spec its slots would refuse', async () => {
    const response = await stack.app.request('/v1/schedules', {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        intervalMs: 60_000,
        job: { image: testImage, command: ['true'], files: [{ path: '/in/a.txt', content: 'x' }] },
      }),
    });
    expect(response.status).toBe(400);
    const problem = (await response.json()) as { errors: { pointer: string }[] };
    expect(problem.errors.map((error) => error.pointer)).toContain('/job/files/0/path');
  });
});
