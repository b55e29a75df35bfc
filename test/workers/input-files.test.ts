import { createHash, randomBytes, randomUUID } from 'node:crypto';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InputFile } from '../../schemas/job-spec.schema.ts';
import { createDockerSandbox } from '../../workers/sandbox/docker-sandbox.ts';
import { testImage } from '../support/test-image.ts';
import { testPolicy } from '../support/test-policy.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

const testRun = randomUUID();
const docker = new Docker();
const sandbox = createDockerSandbox({
  docker,
  policy: testPolicy,
  extraLabels: { 'omni.test-run': testRun },
});
let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack('input_files', { withWorkers: false });
});
afterAll(async () => {
  await stack?.stop();
  const leftovers = await docker.listContainers({
    all: true,
    filters: { label: [`omni.test-run=${testRun}`] },
  });
  for (const container of leftovers) await docker.getContainer(container.Id).remove({ force: true });
  expect(leftovers).toEqual([]);
});

const run = (command: string[], files: InputFile[]) =>
  sandbox.run({
    spec: {
      image: testImage,
      command,
      env: { KEEP: 'mine' },
      files,
      timeoutMs: 20_000,
      limits: testPolicy.defaults,
    },
    labels: { jobId: randomUUID(), attempt: 1, workerId: `worker-${testRun}` },
  });

describe('input files', () => {
  it('are in place under /tmp before the command starts, and leave no trace in its environment', async () => {
    const result = await run(
      [
        'sh',
        '-c',
        'cat /tmp/in/data.csv; ls -l /tmp/in/run.sh | cut -c1-10; env | grep -c "^OMNI_INPUT" ; echo "KEEP=$KEEP"; /tmp/in/run.sh',
      ],
      [
        { path: '/tmp/in/data.csv', content: 'name,count\nada,3\n' },
        { path: '/tmp/in/run.sh', content: '#!/bin/sh\necho ran "$0"\n', mode: 0o755 },
      ],
    );
    expect(result).toMatchObject({ reason: 'exited', exitCode: 0 });
    expect(result.stdout).toBe('name,count\nada,3\n-rwxr-xr-x\n0\nKEEP=mine\nran /tmp/in/run.sh\n');
  });

  it('carry a file of several chunks byte for byte, and keep the argv exactly as given', async () => {
    const content = randomBytes(300 * 1024).toString('base64'); // ~400 KiB of text: several env chunks
    const result = await run(['md5sum', '/tmp/big.txt'], [{ path: '/tmp/big.txt', content }]);
    expect(result.stdout.split(' ')[0]).toBe(createHash('md5').update(content).digest('hex'));
    const argv = await run(['printf', '[%s]', 'a b', '$HOME', "'q'"], [{ path: '/tmp/x', content: '' }]);
    expect(argv.stdout).toBe("[a b][$HOME]['q']");
  });

  it('are refused at the API outside /tmp, with .. segments, or over the size cap', async () => {
    const headers = { authorization: `Bearer ${await stack.token()}`, 'content-type': 'application/json' };
    const submit = (files: unknown) =>
      stack.app.request('/v1/jobs', {
        method: 'POST',
        headers,
        body: JSON.stringify({ image: testImage, command: ['true'], files }),
      });
    for (const path of ['/etc/passwd', '/tmp/../etc/x', '/tmp/./x', 'tmp/x', '/tmp/a b']) {
      const response = await submit([{ path, content: 'x' }]);
      expect(response.status, path).toBe(400);
      expect(await response.json()).toMatchObject({ errors: [{ pointer: '/files/0/path' }] });
    }
    const tooBig = await submit([{ path: '/tmp/big', content: 'x'.repeat(1024 * 1024 + 1) }]);
    expect(tooBig.status).toBe(400);
    expect((await submit([{ path: '/tmp/ok.txt', content: 'fine' }])).status).toBe(202);
  });
});
