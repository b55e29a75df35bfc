import { randomUUID } from 'node:crypto';
import Docker from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ResolvedJobSpec } from '../../schemas/job-spec.schema.ts';
import { sandboxLabels } from '../../workers/sandbox/container-options.ts';
import { reapContainers } from '../../workers/sandbox/container-reaper.ts';
import { createDockerSandbox, type DockerSandbox } from '../../workers/sandbox/docker-sandbox.ts';
import { warmSlotLabel } from '../../workers/sandbox/warm-pool.ts';
import { ensureTestImage, testImage } from '../support/test-image.ts';
import { testPolicy } from '../support/test-policy.ts';

// What goes wrong around a warm container that is not the job's doing, on the shared engine: its
// own worker's reaper meeting it between states, and a container that died while it waited. The
// engine's own faults on the warm path (SIGKILL, SIGSTOP) are engine-faults.test.ts's.
const testRun = randomUUID();
const testLabel = `omni.test-run=${testRun}`;
const workerId = `worker-${testRun}`;
const docker = new Docker();
const opened: DockerSandbox[] = [];

function warmSandbox(size: number): DockerSandbox {
  const sandbox = createDockerSandbox({
    docker,
    policy: testPolicy,
    extraLabels: { 'omni.test-run': testRun },
    warmPool: { size, workerId },
  });
  opened.push(sandbox);
  return sandbox;
}

const spec = (command: string[]): ResolvedJobSpec => ({
  image: testImage,
  command,
  env: {},
  timeoutMs: 10_000,
  limits: testPolicy.defaults,
});

const runIn = (sandbox: DockerSandbox, jobSpec: ResolvedJobSpec) =>
  sandbox.run({ spec: jobSpec, labels: { jobId: randomUUID(), attempt: 1, workerId } });

/** The worker's own reaper as worker-lifecycle.ts runs it; a cold container is the running job's. */
const ownReap = (sandbox: DockerSandbox) =>
  reapContainers(docker, {
    isAlive: () => true,
    labels: [testLabel],
    self: { workerId, isRunningHere: () => true, holdsWarm: (labels) => sandbox.holdsWarm(labels) },
  });

beforeAll(async () => {
  await ensureTestImage();
}, 120_000);

afterEach(async () => {
  for (const sandbox of opened.splice(0)) await sandbox.close();
});

afterAll(async () => {
  const leftovers = await docker.listContainers({ all: true, filters: { label: [testLabel] } });
  for (const container of leftovers) await docker.getContainer(container.Id).remove({ force: true });
  expect(leftovers).toEqual([]);
});

describe('warm pool beside its own reaper', () => {
  it('leaves the containers its pool holds alone in every state: being started, waiting, running, just ended', async () => {
    const sandbox = warmSandbox(2);
    const { imageId } = await sandbox.prepare(spec(['true']));
    expect(await sandbox.warmUp(spec(['true']), imageId)).toBe(true);
    // The reaper runs back to back while jobs come and go: it lists a container the pool is
    // creating (state `created`) or one whose job just exited and is being inspected (`exited`),
    // and before the pool held its containers it removed those, killing a job (137) or failing
    // its inspect (404, recorded as a sandbox error).
    let reaping = true;
    const reaped: string[] = [];
    const reaper = (async () => {
      while (reaping) reaped.push(...(await ownReap(sandbox)));
    })();
    const results = [];
    try {
      for (let i = 0; i < 12; i += 1) results.push(await runIn(sandbox, spec(['sh', '-c', `echo job ${i}`])));
    } finally {
      reaping = false;
      await reaper;
    }
    expect(reaped).toEqual([]);
    expect(results.map((result) => [result.path, result.reason, result.exitCode, result.stdout])).toEqual(
      results.map((_, i) => ['warm', 'exited', 0, `job ${i}\n`]),
    );
  });

  it('reaps a warm container of its own that the pool let go of, running or not', async () => {
    const sandbox = warmSandbox(1);
    const { imageId } = await sandbox.prepare(spec(['true']));
    expect(await sandbox.warmUp(spec(['true']), imageId)).toBe(true);
    // As a removal the engine failed would leave it: labelled as the pool's, held by no slot.
    const lost = await docker.createContainer({
      Image: imageId,
      Cmd: ['sleep', '60'],
      Labels: {
        'omni.test-run': testRun,
        [sandboxLabels.managed]: 'true',
        [sandboxLabels.workerId]: workerId,
        [sandboxLabels.jobId]: 'warm',
        [sandboxLabels.attempt]: '0',
        [sandboxLabels.warm]: 'true',
        [warmSlotLabel]: randomUUID(),
      },
    });
    await lost.start();
    const waiting = await docker.listContainers({
      filters: { label: [testLabel, `${sandboxLabels.warm}=true`], status: ['running'] },
    });
    expect(waiting).toHaveLength(2);
    expect(await ownReap(sandbox)).toEqual([lost.id]);
    // The one the pool waits with is still there and takes the next job.
    expect(await runIn(sandbox, spec(['echo', 'still warm']))).toMatchObject({
      path: 'warm',
      stdout: 'still warm\n',
    });
  });
});

describe('a warm container that dies while it waits', () => {
  it('is never the job’s outcome: killed just before it is taken, the attempt runs cold and succeeds', async () => {
    const paths: string[] = [];
    for (let round = 0; round < 3; round += 1) {
      const sandbox = warmSandbox(1);
      const job = spec(['sh', '-c', `echo round ${round}`]);
      const { imageId } = await sandbox.prepare(job);
      expect(await sandbox.warmUp(job, imageId)).toBe(true);
      const [waiting] = await docker.listContainers({
        filters: { label: [testLabel, `${sandboxLabels.warm}=true`], status: ['running'] },
      });
      if (!waiting) throw new Error('no warm container waits');
      // As an engine restart or an operator would: the kill is answered before the container's
      // end reaches the pool, so the pool may still hand it out.
      await docker.getContainer(waiting.Id).kill();
      const result = await sandbox.run({
        spec: job,
        imageId,
        labels: { jobId: randomUUID(), attempt: 1, workerId },
      });
      expect(result).toMatchObject({ reason: 'exited', exitCode: 0, stdout: `round ${round}\n` });
      paths.push(result.path ?? 'none');
      await sandbox.close();
    }
    console.log(`killed while waiting, then run: paths ${paths.join(', ')}`);
  });
});
