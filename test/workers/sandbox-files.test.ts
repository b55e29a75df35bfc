import { createHash, randomBytes, randomUUID } from 'node:crypto';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxPolicy } from '../../schemas/config.schema.ts';
import type { ResolvedJobSpec } from '../../schemas/job-spec.schema.ts';
import type { SandboxInput } from '../../workers/sandbox/sandbox.ts';
import { testImage } from '../support/test-image.ts';
import { testPolicy } from '../support/test-policy.ts';
import { sandboxOnPath, sandboxPaths } from './sandbox-paths.ts';

// The sandbox alone: files in through the wrapper's stdin, declared outputs back through its trailer.
const testRun = randomUUID();
const docker = new Docker();
const kibibyte = 1024;
const policy: SandboxPolicy = {
  ...testPolicy,
  files: {
    maxInputBytes: 4 * 1024 * kibibyte,
    outputsTmpfsBytes: 2 * 1024 * kibibyte,
    artifactMaxBytes: 64 * kibibyte,
    artifactMaxCount: 3,
  },
};
// Every run below runs once cold and once warm (see sandbox-paths.ts).
let sandbox = sandboxOnPath('cold', { docker, policy, extraLabels: { 'omni.test-run': testRun } });

afterAll(async () => {
  const leftovers = await docker.listContainers({
    all: true,
    filters: { label: [`omni.test-run=${testRun}`] },
  });
  for (const container of leftovers) await docker.getContainer(container.Id).remove({ force: true });
  expect(leftovers).toEqual([]);
});

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

function run(script: string, extra: Partial<ResolvedJobSpec> = {}, inputs: SandboxInput[] = []) {
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
  });
}

describe.each(sandboxPaths)('sandbox files (%s path)', (path) => {
  beforeAll(() => {
    sandbox = sandboxOnPath(path, { docker, policy, extraLabels: { 'omni.test-run': testRun } });
  });
  it('places uploaded inputs read-only and collects declared outputs byte for byte', async () => {
    const csv = Buffer.from('name,count\nada,3\nbob,4\n');
    const binary = randomBytes(40 * kibibyte);
    const result = await run(
      "ls -l /tmp/in/data.csv | cut -c1-10; awk -F, 'NR>1 {s+=$2} END {print s}' /tmp/in/data.csv > /out/sum.txt; cp /tmp/in/blob.bin /out/copy.bin; cat; echo done",
      { outputs: ['/out/sum.txt', '/out/*.bin'], stdin: 'from stdin\n' },
      [
        { path: '/tmp/in/data.csv', content: csv },
        { path: '/tmp/in/blob.bin', content: binary },
      ],
    );
    expect(result).toMatchObject({ reason: 'exited', exitCode: 0 });
    expect(result.stdout).toBe('-r--r--r--\nfrom stdin\ndone\n');
    expect(result.outputs?.refused).toEqual([]);
    const files = Object.fromEntries((result.outputs?.files ?? []).map((file) => [file.path, file.content]));
    expect(Object.keys(files).sort()).toEqual(['/out/copy.bin', '/out/sum.txt']);
    expect(files['/out/sum.txt']?.toString()).toBe('7\n');
    expect(sha256(files['/out/copy.bin'] ?? Buffer.alloc(0))).toBe(sha256(binary));
  });

  it('refuses links, oversized and surplus outputs with reasons, keeps the rest, and keeps the exit code', async () => {
    const result = await run(
      [
        'ln -s /etc/passwd /out/passwd',
        'mkdir /out/dir',
        'head -c 70000 /dev/zero > /out/big.dat',
        'for n in 1 2 3 4; do echo $n > /out/n$n.txt; done',
        'echo visible',
        'exit 3',
      ].join('; '),
      { outputs: ['/out/*', '/out/report.json'] },
    );
    expect(result).toMatchObject({ reason: 'exited', exitCode: 3, stdout: 'visible\n' });
    const kept = (result.outputs?.files ?? []).map((file) => file.path).sort();
    expect(kept).toHaveLength(3);
    const refused = Object.fromEntries(
      (result.outputs?.refused ?? []).map((entry) => [entry.path, entry.reason]),
    );
    expect(refused).toMatchObject({
      '/out/passwd': 'symlink',
      '/out/dir': 'not-a-regular-file',
      '/out/big.dat': 'too-large',
      '/out/report.json': 'missing',
    });
    expect(Object.values(refused).filter((reason) => reason === 'too-many')).toHaveLength(1);
    // The link's target never left the container.
    for (const file of result.outputs?.files ?? []) expect(file.content.toString()).not.toContain('root:');
  });

  it('kills what the job left running before collecting, and a job printing a fake marker gains nothing', async () => {
    const result = await run(
      '(sleep 30; echo late > /out/late.txt) & echo omni-outputs-0000; echo ok > /out/ok.txt',
      { outputs: ['/out/*.txt'] },
    );
    expect(result).toMatchObject({ reason: 'exited', exitCode: 0 });
    expect(result.stdout).toBe('omni-outputs-0000\n');
    expect(result.durationMs).toBeLessThan(20_000);
    expect((result.outputs?.files ?? []).map((file) => file.path)).toEqual(['/out/ok.txt']);
  });

  it('survives a job that signals PID 1, fills /out past its size and forks to its pids limit', async () => {
    const result = await run(
      [
        'kill -KILL 1; kill -TERM 1; kill -USR1 1',
        'head -c 3000000 /dev/zero > /out/fill.bin 2>/dev/null || echo full',
        'echo kept > /out/kept.txt',
        // In a subshell of its own: at the limit, the fork that fails may be the loop's shell's own
        // (ash then exits 2), and that shell must not be the job's, which goes on to say `end`.
        '(for i in $(seq 1 200); do (sleep 5 &) 2>/dev/null; done) 2>/dev/null',
        'echo end',
      ].join('; '),
      { outputs: ['/out/kept.txt', '/out/fill.bin'] },
    );
    expect(result).toMatchObject({ reason: 'exited', exitCode: 0 });
    expect(result.stdout).toContain('full\n');
    expect(result.stdout).toContain('end\n');
    expect(result.durationMs).toBeLessThan(5_000);
    expect((result.outputs?.files ?? []).map((file) => file.path)).toEqual(['/out/kept.txt']);
    // /out is 2 MiB: the file stopped there and is over the 64 KiB artifact cap.
    expect(result.outputs?.refused).toEqual([
      expect.objectContaining({ path: '/out/fill.bin', reason: 'too-large' }),
    ]);
  });

  it('records why nothing was collected when the attempt timed out', async () => {
    const result = await run('echo x > /out/a.txt; sleep 30', { outputs: ['/out/a.txt'], timeoutMs: 1_500 });
    expect(result.reason).toBe('timeout');
    expect(result.outputs?.files).toEqual([]);
    expect(result.outputs?.refused).toEqual([
      expect.objectContaining({ path: '/out', reason: 'unreadable' }),
    ]);
  });
});
