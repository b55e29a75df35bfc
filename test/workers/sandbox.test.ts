import { randomUUID } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import Docker from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxPolicy } from '../../schemas/config.schema.ts';
import type { ResolvedJobSpec } from '../../schemas/job-spec.schema.ts';
import { createOutputCapture } from '../../workers/sandbox/output-capture.ts';
import type { SandboxPath, SandboxResult } from '../../workers/sandbox/sandbox.ts';
import { SandboxError } from '../../workers/sandbox/sandbox.ts';
import { ensureTestImage, testImage } from '../support/test-image.ts';
import { sandboxOnPath, sandboxPaths } from './sandbox-paths.ts';

const mib = 1024 * 1024;
const outputCap = 64 * 1024;
const testRun = randomUUID();
const testLabel = `omni.test-run=${testRun}`;

const policy: SandboxPolicy = {
  allowedImages: [testImage],
  user: '65534:65534',
  defaults: { memoryBytes: 64 * mib, cpus: 1, pids: 64, timeoutMs: 5_000 },
  maxima: { memoryBytes: 64 * mib, cpus: 1, pids: 64, timeoutMs: 5_000 },
  outputLimitBytes: outputCap,
  tmpfsBytes: 16 * mib,
};

const docker = new Docker();

// Which path the suite runs on now: every run block below runs once cold and once warm.
let currentPath: SandboxPath = 'cold';

function sandboxFor(overrides: Partial<SandboxPolicy> = {}, client: Docker = docker) {
  return sandboxOnPath(currentPath, {
    docker: client,
    policy: { ...policy, ...overrides },
    extraLabels: { 'omni.test-run': testRun },
  });
}

function run(
  command: string[],
  spec: Partial<ResolvedJobSpec> = {},
  options: { policy?: Partial<SandboxPolicy>; signal?: AbortSignal } = {},
): Promise<SandboxResult> {
  return sandboxFor(options.policy).run({
    spec: {
      image: testImage,
      command,
      env: {},
      timeoutMs: 5_000,
      limits: { memoryBytes: 64 * mib, cpus: 1, pids: 64 },
      ...spec,
    },
    labels: { jobId: `job-${randomUUID()}`, attempt: 1, workerId: `worker-${testRun}` },
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

async function ownContainers(): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [testLabel] } });
  return list.map((container) => container.Id);
}

beforeAll(async () => {
  await ensureTestImage();
}, 120_000);

afterEach(async () => {
  // The sandbox removes its container in a finally: none may outlive a run, whatever the outcome.
  expect(await ownContainers()).toEqual([]);
});

afterAll(async () => {
  for (const id of await ownContainers()) {
    await docker.getContainer(id).remove({ force: true });
  }
  expect(await ownContainers()).toEqual([]);
});

describe.each(sandboxPaths)('%s path', (path) => {
  beforeAll(() => {
    currentPath = path;
  });

  describe('docker sandbox: running jobs', () => {
    it('runs a command and returns its stdout and exit code 0', async () => {
      const result = await run(['echo', 'hello']);
      expect(result).toMatchObject({ reason: 'exited', exitCode: 0, stdout: 'hello\n', stderr: '' });
      expect(result.outputTruncated).toBe(false);
      expect(result.imageId).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(result.finishedAt.getTime()).toBeGreaterThanOrEqual(result.startedAt.getTime());
      expect(result.durationMs).toBeGreaterThanOrEqual(0);
    });

    it('reports a non-zero exit code as the job ending on its own', async () => {
      const result = await run(['sh', '-c', 'exit 3']);
      expect(result).toMatchObject({ reason: 'exited', exitCode: 3 });
    });

    it('keeps stdout and stderr apart and passes the environment', async () => {
      const result = await run(['sh', '-c', 'echo "$GREETING"; echo oops >&2'], {
        env: { GREETING: 'hi there' },
      });
      expect(result).toMatchObject({ exitCode: 0, stdout: 'hi there\n', stderr: 'oops\n' });
    });

    it('decodes multibyte UTF-8 output', async () => {
      const result = await run(['printf', 'h\\303\\251llo \\342\\234\\223']);
      expect(result.stdout).toBe('héllo ✓');
    });

    it('passes stdin to the job and closes it', async () => {
      const result = await run(['cat'], { stdin: 'line one\nline two\n' });
      expect(result).toMatchObject({ reason: 'exited', exitCode: 0, stdout: 'line one\nline two\n' });
    });
  });

  describe('docker sandbox: isolation', () => {
    it('runs as the policy user, never root', async () => {
      const result = await run(['id', '-u']);
      expect(result.stdout).toBe('65534\n');
    });

    it('has a read-only root filesystem and a writable /tmp', async () => {
      const root = await run(['touch', '/x']);
      expect(root.exitCode).not.toBe(0);
      expect(root.stderr).toContain('Read-only file system');
      const tmp = await run(['sh', '-c', 'touch /tmp/x && echo ok']);
      expect(tmp.stdout).toBe('ok\n');
    });

    it('has no network: only loopback exists and outbound connections fail', async () => {
      // busybox's static wget segfaults on any URL, so it would "fail" for the wrong reason: use nc.
      const result = await run([
        'sh',
        '-c',
        'nc -w 2 1.1.1.1 80 </dev/null; echo "rc=$?"; cat /proc/net/dev',
      ]);
      expect(result.stdout).toContain('rc=1');
      expect(result.stderr).toContain('Network is unreachable');
      const interfaces = result.stdout
        .split('\n')
        .slice(3)
        .map((line) => line.split(':')[0]?.trim())
        .filter((name) => name);
      expect(interfaces).toEqual(['lo']);
    });

    it('runs under seccomp, with no-new-privileges and no capabilities', async () => {
      const result = await run(['cat', '/proc/self/status']);
      expect(result.stdout).toContain('Seccomp:\t2\n');
      expect(result.stdout).toContain('NoNewPrivs:\t1\n');
      expect(result.stdout).toContain('CapEff:\t0000000000000000\n');
    });

    it('cannot see host files or the Docker socket', async () => {
      const hostFile = `/tmp/omni-host-${randomUUID()}`;
      await writeFile(hostFile, 'host secret');
      try {
        const result = await run([
          'sh',
          '-c',
          `cat ${hostFile}; echo "file=$?"; test -e /var/run/docker.sock; echo "sock=$?"; cat /etc/hostname`,
        ]);
        expect(result.stdout).not.toContain('host secret');
        expect(result.stdout).toContain('file=1');
        expect(result.stdout).toContain('sock=1');
        expect(result.stdout).toContain('sandbox\n');
        expect(result.stdout).not.toContain(`${hostname()}\n`);
      } finally {
        await rm(hostFile, { force: true });
      }
    });
  });

  describe('docker sandbox: limits', () => {
    it('contains a fork bomb with the pids limit and the engine keeps serving', async () => {
      const bomb = await run(['sh', '-c', 'b(){ b | b & }; b; sleep 2; echo /proc/[0-9]*'], {
        timeoutMs: 4_000,
      });
      // Contained whichever comes first: the bomb's own end, the timeout, or its flood of "can't
      // fork" lines reaching the output cap (seen on a busy machine).
      expect(['exited', 'timeout', 'output-limit']).toContain(bomb.reason);
      expect(bomb.stderr).toContain("can't fork");
      if (bomb.reason === 'exited') {
        const processes = bomb.stdout.trim().split(' ').length;
        expect(processes).toBeLessThanOrEqual(64 + 1);
      }
      await expect(docker.ping()).resolves.toBeTruthy();
      const next = await run(['echo', 'still here']);
      expect(next).toMatchObject({ reason: 'exited', stdout: 'still here\n' });
    });

    it('reports a memory hog killed by the OOM killer as oom', async () => {
      // Doubling a shell string: 64 MiB is reached in about 25 doublings, well inside the timeout.
      const result = await run(['sh', '-c', 'x=a; while true; do x=$x$x; done']);
      expect(result.reason).toBe('oom');
      expect(result.exitCode).toBe(137);
    });

    it('kills endless output at the byte cap and marks it truncated', async () => {
      const result = await run(['yes']);
      expect(result.reason).toBe('output-limit');
      expect(result.outputTruncated).toBe(true);
      expect(result.stdout.length).toBeLessThanOrEqual(outputCap);
      expect(result.stdout.length).toBeGreaterThan(outputCap - 2);
      expect(result.stdout.startsWith('y\ny\n')).toBe(true);
    });

    it('counts stdout and stderr together against the cap', async () => {
      // 1000 bytes of stderr first, then endless stdout: stdout gets only what is left of the shared
      // cap. The engine reads the two pipes independently, so a pause lets stderr arrive first.
      const result = await run(['sh', '-c', "head -c 1000 /dev/zero | tr '\\0' e >&2; sleep 0.5; yes"]);
      expect(result.reason).toBe('output-limit');
      expect(result.stderr).toBe('e'.repeat(1000));
      expect(result.stdout.length).toBeLessThanOrEqual(outputCap - 1000);
      expect(result.stdout.length).toBeGreaterThan(outputCap - 1000 - 2);
    });

    it('keeps output exactly at the cap without truncating', async () => {
      const result = await run(['sh', '-c', `head -c ${outputCap} /dev/zero | tr '\\0' a`]);
      expect(result).toMatchObject({ reason: 'exited', exitCode: 0, outputTruncated: false });
      expect(result.stdout).toBe('a'.repeat(outputCap));
    });

    it('kills a job at its wall-clock timeout', async () => {
      const began = Date.now();
      const result = await run(['sleep', '1000'], { timeoutMs: 1_500 });
      expect(result.reason).toBe('timeout');
      expect(result.durationMs).toBeGreaterThanOrEqual(1_400);
      // Only shows it did not run its 1000 s: creating and removing containers is slow under load,
      // and speed is measured in bench/, not asserted here.
      expect(Date.now() - began).toBeLessThan(20_000);
    });

    it('refuses a 1 GB file in /tmp', async () => {
      const result = await run(['sh', '-c', 'head -c 1073741824 /dev/zero > /tmp/big']);
      expect(result.reason).toBe('exited');
      expect(result.exitCode).not.toBe(0);
    });

    it('caps the total size of /tmp', async () => {
      // 4 MiB files, each under the per-file limit, until the 16 MiB tmpfs is full; dd (unlike head)
      // reports the errno, and the fifth file is the first that cannot fit.
      const result = await run([
        'sh',
        '-c',
        'i=0; while [ $i -lt 8 ]; do dd if=/dev/zero of=/tmp/f$i bs=1048576 count=4 2>&1 || exit $((10+i)); i=$((i+1)); done',
      ]);
      expect(result.stdout).toContain('No space left on device');
      expect([13, 14]).toContain(result.exitCode);
    });
  });

  describe('docker sandbox: cancellation and refusals', () => {
    it('kills the container within a second of an abort', async () => {
      const controller = new AbortController();
      const pending = run(['sleep', '1000'], {}, { signal: controller.signal });
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const abortedAt = Date.now();
      controller.abort();
      // The promise is that the job stops running within a second; inspecting and removing the
      // stopped container follow and may take longer on a busy engine.
      let stoppedAfter = Number.POSITIVE_INFINITY;
      while (Date.now() - abortedAt < 10_000) {
        const running = await docker.listContainers({ filters: { label: [testLabel], status: ['running'] } });
        if (running.length === 0) {
          stoppedAfter = Date.now() - abortedAt;
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      const result = await pending;
      expect(result.reason).toBe('cancelled');
      expect(stoppedAfter).toBeLessThan(1_000);
    });

    it('never starts a job whose signal is already aborted', async () => {
      const result = await run(['echo', 'should not run'], {}, { signal: AbortSignal.abort() });
      expect(result).toMatchObject({ reason: 'cancelled', exitCode: null, stdout: '' });
    });

    it('refuses an image that is not on the allowlist', async () => {
      const attempt = run(['true'], { image: 'alpine:latest' });
      await expect(attempt).rejects.toBeInstanceOf(SandboxError);
      await expect(attempt).rejects.toMatchObject({ code: 'image-not-allowed' });
    });

    it('refuses an allowed image that is not present, without pulling', async () => {
      const missing = `omni-missing-${testRun}:latest`;
      const attempt = run(['true'], { image: missing }, { policy: { allowedImages: [missing] } });
      await expect(attempt).rejects.toMatchObject({ name: 'SandboxError', code: 'image-missing' });
    });

    it('reports an unreachable engine as daemon-unavailable', async () => {
      const nowhere = new Docker({ socketPath: `/tmp/omni-no-docker-${testRun}.sock` });
      const attempt = sandboxFor({}, nowhere).run({
        spec: { image: testImage, command: ['true'], env: {}, timeoutMs: 1_000, limits: policy.defaults },
        labels: { jobId: 'job', attempt: 1, workerId: 'worker' },
      });
      await expect(attempt).rejects.toMatchObject({ name: 'SandboxError', code: 'daemon-unavailable' });
    });
  });

  describe('docker sandbox: gVisor runtime', () => {
    it('runs a job under runsc when the policy names it', async () => {
      const info = (await docker.info()) as { Runtimes?: Record<string, unknown> };
      // Not a skip: CI installs runsc, so its absence is a broken environment.
      expect(Object.keys(info.Runtimes ?? {}), 'docker info must list the runsc runtime').toContain('runsc');
      const result = await run(['dmesg'], {}, { policy: { runtime: 'runsc' } });
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toContain('Starting gVisor');
      const plain = await run(['dmesg']);
      expect(plain.stdout).not.toContain('Starting gVisor');
    });
  });

  describe('docker sandbox: images', () => {
    it('prepares the image id that the run then uses', async () => {
      const sandbox = sandboxFor();
      const spec = {
        image: testImage,
        command: ['true'],
        env: {},
        timeoutMs: 5_000,
        limits: policy.defaults,
      };
      const prepared = await sandbox.prepare(spec);
      expect(prepared.imageId).toBe((await docker.getImage(testImage).inspect()).Id);
      const result = await sandbox.run({
        spec,
        labels: { jobId: `job-${randomUUID()}`, attempt: 1, workerId: `worker-${testRun}` },
        imageId: prepared.imageId,
      });
      expect(result.imageId).toBe(prepared.imageId);
    });

    it('runs an image pinned by digest and refuses one whose digest differs', async () => {
      const { Id } = await docker.getImage(testImage).inspect();
      const spec = {
        image: testImage,
        command: ['true'],
        env: {},
        timeoutMs: 5_000,
        limits: policy.defaults,
      };
      await expect(sandboxFor({ allowedImages: [`${testImage}@${Id}`] }).prepare(spec)).resolves.toEqual({
        imageId: Id,
      });
      const wrong = `sha256:${'0'.repeat(64)}`;
      const refused = sandboxFor({ allowedImages: [`${testImage}@${wrong}`] }).prepare(spec);
      await expect(refused).rejects.toMatchObject({ name: 'SandboxError', code: 'image-digest-mismatch' });
      await expect(refused).rejects.toThrow(/not the pinned sha256:0+/);
      // run() checks the same way when it has to resolve the image itself.
      await expect(
        run(['true'], {}, { policy: { allowedImages: [`${testImage}@${wrong}`] } }),
      ).rejects.toMatchObject({ code: 'image-digest-mismatch' });
    });

    it('says pulls are off when an allowed image is missing', async () => {
      const missing = `omni-missing-${testRun}:latest`;
      const attempt = sandboxFor({ allowedImages: [missing] }).prepare({ image: missing });
      await expect(attempt).rejects.toMatchObject({ code: 'image-missing' });
      await expect(attempt).rejects.toThrow(/SANDBOX_PULL_MISSING/);
    });

    it('pulls a missing image when pulls are on, and reports a failed pull as image-missing', async () => {
      // Nothing listens on port 1: the pull is really attempted and fails, and nothing else is run instead.
      const missing = `127.0.0.1:1/omni-missing-${testRun}:latest`;
      const attempt = sandboxFor({
        allowedImages: [missing],
        pullMissing: true,
        registryAuth: { username: 'u', password: 'p' },
      }).prepare({ image: missing });
      await expect(attempt).rejects.toMatchObject({ name: 'SandboxError', code: 'image-missing' });
      await expect(attempt).rejects.toThrow(/pulling it failed/);
    });
  });

  describe('docker sandbox: live output and run facts', () => {
    it('streams output while the job runs, in order, and the chunks add up to the final output', async () => {
      const chunks: { stream: string; text: string; at: number }[] = [];
      const result = await sandboxFor().run({
        spec: {
          image: testImage,
          command: ['sh', '-c', 'for i in 1 2 3 4; do echo out$i; echo err$i >&2; sleep 0.4; done'],
          env: {},
          timeoutMs: 5_000,
          limits: policy.defaults,
        },
        labels: { jobId: `job-${randomUUID()}`, attempt: 1, workerId: `worker-${testRun}` },
        onOutput: (chunk) => chunks.push({ ...chunk, at: Date.now() }),
      });
      const returnedAt = Date.now();
      expect(result.stdout).toBe('out1\nout2\nout3\nout4\n');
      const join = (stream: string) =>
        chunks
          .filter((chunk) => chunk.stream === stream)
          .map((chunk) => chunk.text)
          .join('');
      expect(join('stdout')).toBe(result.stdout);
      expect(join('stderr')).toBe(result.stderr);
      // The first line arrived long before the run returned (the job sleeps 1.6 s after it).
      expect(chunks[0]?.text).toMatch(/^(out1|err1)/);
      expect(returnedAt - (chunks[0]?.at ?? returnedAt)).toBeGreaterThan(800);
    });

    it('passes on no more live output than the cap', async () => {
      let bytes = 0;
      const result = await sandboxFor().run({
        spec: { image: testImage, command: ['yes'], env: {}, timeoutMs: 5_000, limits: policy.defaults },
        labels: { jobId: `job-${randomUUID()}`, attempt: 1, workerId: `worker-${testRun}` },
        onOutput: (chunk) => {
          bytes += Buffer.byteLength(chunk.text);
        },
      });
      expect(result.reason).toBe('output-limit');
      expect(bytes).toBe(Buffer.byteLength(result.stdout));
      expect(bytes).toBeLessThanOrEqual(outputCap);
    });

    it('records the peak memory of a job that ran long enough to be sampled', async () => {
      // About 8 MiB of shell string, then a pause so the engine's stats stream reports at least once.
      const result = await run([
        'sh',
        '-c',
        'x=a; i=0; while [ $i -lt 23 ]; do x=$x$x; i=$((i+1)); done; sleep 1.5',
      ]);
      expect(result.reason).toBe('exited');
      expect(result.peakMemoryBytes).toBeGreaterThan(8 * mib);
      expect(result.peakMemoryBytes).toBeLessThanOrEqual(64 * mib);
    });
  });
});

describe('output capture (attach stream demultiplexing)', () => {
  const frame = (stream: number, payload: Buffer): Buffer => {
    const header = Buffer.alloc(8);
    header.writeUInt8(stream, 0);
    header.writeUInt32BE(payload.length, 4);
    return Buffer.concat([header, payload]);
  };

  it('decodes a character split across frames and chunks', () => {
    const capture = createOutputCapture(1024);
    const check = Buffer.from('✓', 'utf8');
    const bytes = Buffer.concat([
      frame(1, check.subarray(0, 1)),
      frame(2, Buffer.from('err')),
      frame(1, check.subarray(1)),
    ]);
    for (const byte of bytes) capture.push(Buffer.from([byte]));
    expect(capture.result()).toEqual({ stdout: '✓', stderr: 'err', truncated: false });
  });

  it('drops a character cut by the cap instead of showing U+FFFD', () => {
    const capture = createOutputCapture(4);
    expect(capture.push(frame(1, Buffer.from('ab✓', 'utf8')))).toBe(true);
    expect(capture.result()).toEqual({ stdout: 'ab', stderr: '', truncated: true });
  });
});
