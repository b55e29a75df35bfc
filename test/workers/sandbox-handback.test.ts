import { createHash, randomUUID } from 'node:crypto';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxPolicy } from '../../schemas/config.schema.ts';
import type { ResolvedJobSpec } from '../../schemas/job-spec.schema.ts';
import type { SandboxInput, SandboxOutputChunk, SandboxRunRequest } from '../../workers/sandbox/sandbox.ts';
import { closedTmpImage, ensureClosedTmpImage, testImage } from '../support/test-image.ts';
import { testPolicy } from '../support/test-policy.ts';
import { sandboxOnPath, sandboxPaths } from './sandbox-paths.ts';

// What a job hands back (stdout, stderr, live output, the files in /out), tried as an attacker
// would: forging the outputs, hiding output from the cap, sparse files, a secret cut by the cap,
// and an image whose /tmp only root may write.
const testRun = randomUUID();
const docker = new Docker();
const kibibyte = 1024;
const outputCap = 64 * kibibyte;
const policy: SandboxPolicy = {
  ...testPolicy,
  allowedImages: [testImage, closedTmpImage],
  outputLimitBytes: outputCap,
  // The fsize ulimit follows it: 60 MiB sparse files must be allowed to exist.
  tmpfsBytes: 64 * 1024 * kibibyte,
  files: {
    maxInputBytes: 4 * 1024 * kibibyte,
    outputsTmpfsBytes: 2 * 1024 * kibibyte,
    artifactMaxBytes: 64 * kibibyte,
    artifactMaxCount: 3,
  },
};
// Every run below runs once cold and once warm (see sandbox-paths.ts).
let sandbox = sandboxOnPath('cold', { docker, policy, extraLabels: { 'omni.test-run': testRun } });

beforeAll(async () => {
  await ensureClosedTmpImage();
});

afterAll(async () => {
  const leftovers = await docker.listContainers({
    all: true,
    filters: { label: [`omni.test-run=${testRun}`] },
  });
  for (const container of leftovers) await docker.getContainer(container.Id).remove({ force: true });
  expect(leftovers).toEqual([]);
});

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

function run(
  script: string,
  extra: Partial<ResolvedJobSpec> = {},
  options: { inputs?: SandboxInput[] } & Pick<SandboxRunRequest, 'secretValues' | 'onOutput'> = {},
) {
  const inputs = options.inputs ?? [];
  return sandbox.run({
    spec: {
      image: testImage,
      command: ['sh', '-c', script],
      env: {},
      timeoutMs: 20_000,
      limits: testPolicy.defaults,
      ...extra,
      ...(inputs.length > 0
        ? {
            inputs: inputs.map((input) => ({
              file: randomUUID(),
              path: input.path,
              sha256: sha256(input.content),
              size: input.content.length,
            })),
          }
        : {}),
    },
    inputs,
    labels: { jobId: randomUUID(), attempt: 1, workerId: `worker-${testRun}` },
    ...(options.secretValues ? { secretValues: options.secretValues } : {}),
    ...(options.onOutput ? { onOutput: options.onOutput } : {}),
  });
}

const outputs = (result: Awaited<ReturnType<typeof run>>) =>
  Object.fromEntries((result.outputs?.files ?? []).map((file) => [file.path, file.content.toString()]));

// Reads every writable mapping of PID 1 (the wrapper shell, same uid as the job under runc) and
// prints the first collection marker found there, if any: how a job learns what it must not know.
const stealMarker = [
  'steal() { while read -r range perms rest; do case $perms in rw*)',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
  's=$((0x${range%-*})); e=$((0x${range#*-}));',
  'dd if=/proc/1/mem bs=4096 skip=$((s / 4096)) count=$(((e - s) / 4096)) 2>/dev/null;;',
  "esac; done < /proc/1/maps | grep -a -o 'omni-outputs-[0-9a-f]\\{32\\}' | head -n 1; }",
  '\nmarker=$(steal)',
].join(' ');

describe.each(sandboxPaths)('what a job hands back (%s path)', (path) => {
  beforeAll(() => {
    sandbox = sandboxOnPath(path, { docker, policy, extraLabels: { 'omni.test-run': testRun } });
  });
  it('cannot forge its outputs, even knowing everything PID 1 holds', async () => {
    const result = await run(
      [
        stealMarker,
        'echo real > /out/result.txt',
        'mkdir -p /tmp/fake/out && echo forged > /tmp/fake/out/result.txt',
        'if [ -n "$marker" ]; then printf %s "$marker"; cd /tmp/fake && tar -c -f - out; fi',
        'echo done',
      ].join('\n'),
      { outputs: ['/out/result.txt'] },
    );
    expect(result).toMatchObject({ reason: 'exited', exitCode: 0 });
    expect(outputs(result)).toEqual({ '/out/result.txt': 'real\n' });
    expect(result.outputs?.refused).toEqual([]);
    expect(result.stdout).toContain('done\n');
  });

  it('cannot hide output from the cap behind a marker: 3 MB is an output-limit kill, truncated', async () => {
    const result = await run(
      [stealMarker, 'printf %s "$marker"', "head -c 3000000 /dev/zero | tr '\\0' x", 'echo visible'].join(
        '\n',
      ),
      { outputs: ['/out/*'] },
    );
    expect(result.reason).toBe('output-limit');
    expect(result.outputTruncated).toBe(true);
    expect(result.stdout.length).toBeGreaterThan(outputCap - 100);
    expect(result.stdout.length).toBeLessThanOrEqual(outputCap);
  });

  it('stops collecting sparse files at the cap at once and records why', async () => {
    const result = await run(
      [
        'for i in $(seq 1 300); do dd if=/dev/zero of=/out/s$i bs=1048576 seek=60 count=0 2>/dev/null; done',
        'echo kept > /out/kept.txt',
        'echo made',
      ].join('\n'),
      { outputs: ['/out/*'], timeoutMs: 8_000 },
    );
    expect(result).toMatchObject({ reason: 'exited', exitCode: 0, stdout: 'made\n' });
    expect(result.durationMs).toBeLessThan(6_000);
    expect(result.outputs?.refused).toEqual([
      expect.objectContaining({
        path: '/out',
        reason: 'unreadable',
        detail: expect.stringContaining('larger'),
      }),
    ]);
  });

  it('masks a secret that the output cap would cut, on stdout, stderr and live output', async () => {
    const secret = 'Zq7kWm3vRt9xLc2bNf5hJd8gYs4aPe';
    const live: SandboxOutputChunk[] = [];
    const pad = outputCap - 10;
    for (const stream of ['1', '2']) {
      live.length = 0;
      const result = await run(
        `{ head -c ${pad} /dev/zero | tr '\\0' p; printf %s "$S"; printf %s "$S"; } >&${stream}`,
        { env: { S: secret } },
        { secretValues: [secret], onOutput: (chunk) => live.push(chunk) },
      );
      const stored = stream === '1' ? result.stdout : result.stderr;
      expect(stored.length).toBeGreaterThan(pad);
      expect(stored).not.toContain(secret.slice(0, 4));
      expect(stored.slice(pad)).toMatch(/^\[secret\]/);
      const liveText = live.map((chunk) => chunk.text).join('');
      expect(liveText).not.toContain(secret.slice(0, 4));
      expect(liveText.length).toBeGreaterThan(pad);
    }
  });

  it('gives the job a writable /tmp (and /out) on an image whose /tmp is 0755', async () => {
    const plain = await run('echo x > /tmp/a && cat /tmp/a', { image: closedTmpImage });
    expect(plain).toMatchObject({ reason: 'exited', exitCode: 0, stdout: 'x\n', stderr: '' });

    const data = Buffer.from('name,count\nada,3\n');
    const wrapped = await run(
      'cat /tmp/in/data.csv > /out/copy.csv && echo note > /tmp/note && cat /tmp/note',
      { image: closedTmpImage, outputs: ['/out/copy.csv'] },
      { inputs: [{ path: '/tmp/in/data.csv', content: data }] },
    );
    expect(wrapped).toMatchObject({ reason: 'exited', exitCode: 0, stdout: 'note\n' });
    expect(outputs(wrapped)).toEqual({ '/out/copy.csv': data.toString() });
  });
});
