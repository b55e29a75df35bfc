import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { pack } from 'tar-stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configSchema, type SandboxPolicy } from '../../schemas/config.schema.ts';
import type { ResolvedJobSpec } from '../../schemas/job-spec.schema.ts';
import { sandboxLabels } from '../../workers/sandbox/container-options.ts';
import { reapContainers } from '../../workers/sandbox/container-reaper.ts';
import { createDockerSandbox, type DockerSandbox } from '../../workers/sandbox/docker-sandbox.ts';
import { ensureTestImage, testImage } from '../support/test-image.ts';
import { testPolicy } from '../support/test-policy.ts';

// The warm pool on a real engine: containers started ahead, one job each, never reused; sized by
// config, limits set per job, images without sh run cold, a crashed worker's pool is reaped.
const execFileAsync = promisify(execFile);
const testRun = randomUUID();
const testLabel = `omni.test-run=${testRun}`;
const docker = new Docker();
const mebibyte = 1024 * 1024;
const noShellImage = `omni-no-shell-${testRun.slice(0, 8)}:latest`;
const policy: SandboxPolicy = { ...testPolicy, allowedImages: [testImage, noShellImage] };
const opened: DockerSandbox[] = [];

function warmSandbox(size: number, workerId = `worker-${testRun}`): DockerSandbox {
  const sandbox = createDockerSandbox({
    docker,
    policy,
    extraLabels: { 'omni.test-run': testRun },
    warmPool: { size, workerId },
  });
  opened.push(sandbox);
  return sandbox;
}

const spec = (command: string[], extra: Partial<ResolvedJobSpec> = {}): ResolvedJobSpec => ({
  image: testImage,
  command,
  env: {},
  timeoutMs: 10_000,
  limits: testPolicy.defaults,
  ...extra,
});

async function runIn(sandbox: DockerSandbox, jobSpec: ResolvedJobSpec) {
  return sandbox.run({
    spec: jobSpec,
    labels: { jobId: randomUUID(), attempt: 1, workerId: `worker-${testRun}` },
  });
}

/** This run's warm containers the engine holds, running or not. */
async function warmContainers(state?: 'running') {
  const list = await docker.listContainers({
    all: true,
    filters: { label: [testLabel, `${sandboxLabels.warm}=true`] },
  });
  return list.filter((container) => state === undefined || container.State === state);
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** An image holding only a static busybox as /bin/echo: it runs `echo`, and has no `sh` at all. */
async function buildNoShellImage(): Promise<void> {
  const archive = pack();
  const chunks: Buffer[] = [];
  archive.on('data', (chunk) => {
    chunks.push(chunk as Buffer);
  });
  const ended = new Promise<void>((resolve) => archive.on('end', () => resolve()));
  const busybox = await readFile('/bin/busybox');
  archive.entry({ name: 'bin/', type: 'directory', mode: 0o755 });
  archive.entry({ name: 'tmp/', type: 'directory', mode: 0o1777 });
  archive.entry({ name: 'bin/echo', mode: 0o755, size: busybox.length }, busybox);
  archive.finalize();
  await ended;
  const file = join(tmpdir(), `omni-no-shell-${testRun}.tar`);
  await writeFile(file, Buffer.concat(chunks));
  try {
    await execFileAsync('docker', ['import', '--change', 'ENV PATH=/bin', file, noShellImage]);
  } finally {
    await rm(file, { force: true });
  }
}

beforeAll(async () => {
  await ensureTestImage();
  await buildNoShellImage();
}, 120_000);

afterEach(async () => {
  for (const sandbox of opened.splice(0)) await sandbox.close();
});

afterAll(async () => {
  const leftovers = await docker.listContainers({ all: true, filters: { label: [testLabel] } });
  for (const container of leftovers) await docker.getContainer(container.Id).remove({ force: true });
  await docker
    .getImage(noShellImage)
    .remove({ force: true })
    .catch(() => undefined);
  expect(leftovers).toEqual([]);
});

describe('warm pool', () => {
  it('never reuses a container: a file one attempt left in /tmp is not there for the next', async () => {
    const sandbox = warmSandbox(1);
    const { imageId } = await sandbox.prepare(spec(['true']));
    expect(await sandbox.warmUp(spec(['true']), imageId)).toBe(true);
    const [first] = await warmContainers('running');

    const writer = await runIn(sandbox, spec(['sh', '-c', 'echo left > /tmp/left-behind && echo wrote']));
    expect(writer).toMatchObject({ path: 'warm', exitCode: 0, stdout: 'wrote\n' });
    await sandbox.settled();
    // The container that ran it is gone; the one waiting now is another.
    const ids = (await warmContainers()).map((container) => container.Id);
    expect(ids).not.toContain(first?.Id);

    expect(await sandbox.warmUp(spec(['true']), imageId)).toBe(true);
    const reader = await runIn(
      sandbox,
      spec(['sh', '-c', '[ -e /tmp/left-behind ] && echo seen || echo absent; ls -A /tmp']),
    );
    // Nothing at all in /tmp: neither the other attempt's file nor the wrapper's own.
    expect(reader).toMatchObject({ path: 'warm', exitCode: 0, stdout: 'absent\n' });
  });

  it('keeps as many containers started ahead as configured, refills after a take, and none at size 0', async () => {
    const sandbox = warmSandbox(3);
    const { imageId } = await sandbox.prepare(spec(['true']));
    expect(await sandbox.warmUp(spec(['true']), imageId)).toBe(true);
    await eventually(async () => (await warmContainers('running')).length === 3);

    expect((await runIn(sandbox, spec(['echo', 'one']))).path).toBe('warm');
    await sandbox.settled();
    await eventually(async () => (await warmContainers('running')).length === 3);

    await sandbox.close();
    expect(await warmContainers()).toEqual([]);

    const off = warmSandbox(0);
    expect(await off.warmUp(spec(['true']), imageId)).toBe(false);
    const cold = await runIn(off, spec(['echo', 'cold']));
    expect(cold).toMatchObject({ path: 'cold', stdout: 'cold\n' });
    expect(await warmContainers()).toEqual([]);
  });

  it('reads its size from SANDBOX_WARM_POOL_SIZE: a small default, 0 to disable', () => {
    const base = {};
    expect(configSchema.parse(base).sandbox.warmPoolSize).toBe(2);
    expect(configSchema.parse({ ...base, SANDBOX_WARM_POOL_SIZE: '0' }).sandbox.warmPoolSize).toBe(0);
    expect(configSchema.parse({ ...base, SANDBOX_WARM_POOL_SIZE: '6' }).sandbox.warmPoolSize).toBe(6);
    expect(() => configSchema.parse({ ...base, SANDBOX_WARM_POOL_SIZE: '-1' })).toThrow();
    expect(() => configSchema.parse({ ...base, SANDBOX_WARM_POOL_SIZE: '1000' })).toThrow();
  });

  it('hands argv in as data and the environment outside Config.Env', async () => {
    const sandbox = warmSandbox(1);
    const tricky = ['$(id)', '`id`', 'a\'b"c', '  spaced  ', 'two\nlines\n', '', '\\n', '*'];
    const job = spec(
      [
        'sh',
        '-c',
        'for a in "$@"; do printf "[%s]" "$a"; done; echo; echo "$TOKEN"; sleep 1',
        'sh',
        ...tricky,
      ],
      {
        env: { TOKEN: 'tok-\n-secret-value', PATH: '/bin' },
      },
    );
    const { imageId } = await sandbox.prepare(job);
    expect(await sandbox.warmUp(job, imageId)).toBe(true);
    const running = runIn(sandbox, job);
    // While it runs: the engine's record of the container holds neither the job's argv nor its env.
    await eventually(async () => (await warmContainers('running')).length >= 1);
    for (const summary of await warmContainers('running')) {
      const info = await docker.getContainer(summary.Id).inspect();
      expect(JSON.stringify(info.Config.Env)).not.toContain('secret-value');
      expect(JSON.stringify(info.Config.Cmd)).not.toContain('spaced');
    }
    const result = await running;
    expect(result.path).toBe('warm');
    expect(result.stdout).toBe(
      `${tricky.map((argument) => `[${argument}]`).join('')}\ntok-\n-secret-value\n`,
    );
  });

  it('gives the waiting container the job’s own limits before handing the job in', async () => {
    const sandbox = warmSandbox(1);
    const limits = { memoryBytes: 32 * mebibyte, cpus: 0.5, pids: 24 };
    const job = spec(
      ['sh', '-c', 'cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes'],
      { limits },
    );
    const { imageId } = await sandbox.prepare(job);
    expect(await sandbox.warmUp(job, imageId)).toBe(true);
    const result = await runIn(sandbox, job);
    expect(result).toMatchObject({ path: 'warm', exitCode: 0, stdout: `24\n${32 * mebibyte}\n` });

    // Under the lowered memory limit a hog is OOM-killed, as on the cold path.
    expect(await sandbox.warmUp(job, imageId)).toBe(true);
    const hog = await runIn(sandbox, spec(['sh', '-c', 'x=a; while true; do x=$x$x; done'], { limits }));
    expect(
      hog,
      JSON.stringify({ ...hog, stdout: hog.stdout.slice(0, 200), stderr: hog.stderr.slice(0, 200) }),
    ).toMatchObject({ path: 'warm', reason: 'oom' });
  });

  it('stops waiting for a container being started when the attempt is cancelled, and never runs it', async () => {
    const sandbox = warmSandbox(1);
    const controller = new AbortController();
    const job = spec(['echo', 'should not run']);
    const { imageId } = await sandbox.prepare(job);
    // No container is ready yet: the attempt waits for the one this first take starts.
    const attempt = sandbox.run({
      spec: job,
      imageId,
      labels: { jobId: randomUUID(), attempt: 1, workerId: `worker-${testRun}` },
      signal: controller.signal,
    });
    controller.abort();
    const result = await attempt;
    // It left the wait at once, so it never got that container: cancelled on the cold path, unstarted.
    expect(result).toMatchObject({ reason: 'cancelled', path: 'cold', stdout: '' });
  });

  it('under a runtime that refuses docker update (runsc), runs jobs with other limits cold and stops trying', async () => {
    const sandbox = createDockerSandbox({
      docker,
      policy: { ...policy, runtime: 'runsc' },
      extraLabels: { 'omni.test-run': testRun },
      warmPool: { size: 1, workerId: `worker-${testRun}` },
    });
    opened.push(sandbox);
    const other = spec(['echo', 'other limits'], {
      limits: { ...testPolicy.defaults, memoryBytes: 48 * mebibyte },
    });
    const { imageId } = await sandbox.prepare(other);
    for (let refusal = 1; refusal <= 2; refusal += 1) {
      expect(await sandbox.warmUp(other, imageId)).toBe(true);
      expect(await runIn(sandbox, other)).toMatchObject({
        path: 'cold',
        runtime: 'runsc',
        stdout: 'other limits\n',
      });
    }
    // Learnt: the waiting container is no longer spent on a job it cannot take.
    expect(await sandbox.warmUp(other, imageId)).toBe(true);
    await sandbox.settled();
    const waiting = (await warmContainers('running')).map((container) => container.Id);
    expect(waiting).toHaveLength(1);
    expect((await runIn(sandbox, other)).path).toBe('cold');
    expect((await warmContainers('running')).map((container) => container.Id)).toEqual(waiting);
    // Jobs with the policy's own limits still run warm under it.
    const plain = await runIn(sandbox, spec(['echo', 'defaults']));
    expect(plain).toMatchObject({ path: 'warm', runtime: 'runsc', stdout: 'defaults\n' });
  });

  it('runs an image without sh cold, having found that out once', async () => {
    const sandbox = warmSandbox(2);
    const job = spec(['echo', 'no shell here'], { image: noShellImage });
    const { imageId } = await sandbox.prepare(job);
    expect(await sandbox.warmUp(job, imageId)).toBe(false);
    const first = await runIn(sandbox, job);
    expect(first).toMatchObject({ path: 'cold', exitCode: 0, stdout: 'no shell here\n' });
    // Known now: no more warm containers are tried for it.
    expect(await sandbox.warmUp(job, imageId)).toBe(false);
    expect((await runIn(sandbox, job)).path).toBe('cold');
    await sandbox.settled();
    expect(await warmContainers()).toEqual([]);
  });

  it('leaves a live worker’s waiting containers alone, and reaps a crashed worker’s', async () => {
    const crashed = `crashed-${testRun}`;
    const sandbox = warmSandbox(2, crashed);
    const { imageId } = await sandbox.prepare(spec(['true']));
    expect(await sandbox.warmUp(spec(['true']), imageId)).toBe(true);
    await eventually(async () => (await warmContainers('running')).length === 2);

    // Its own reaper while it lives: the pool's containers stay.
    const ownReap = await reapContainers(docker, {
      isAlive: () => true,
      labels: [testLabel],
      self: { workerId: crashed, isRunningHere: () => false },
    });
    expect(ownReap).toEqual([]);
    expect(await warmContainers('running')).toHaveLength(2);

    // The worker is gone without draining (nothing closes this pool): another worker's reaper
    // finds the containers by their labels and removes them.
    opened.splice(opened.indexOf(sandbox), 1);
    const reaped = await reapContainers(docker, {
      isAlive: (workerId) => workerId !== crashed,
      labels: [testLabel],
    });
    expect(reaped).toHaveLength(2);
    // (This test's process lives on, so its pool would start replacements: closed here.)
    await sandbox.close();
    expect(await warmContainers()).toEqual([]);
  });
});
