import { randomUUID } from 'node:crypto';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildContainerOptions } from '../../workers/sandbox/container-options.ts';
import { reapContainers } from '../../workers/sandbox/container-reaper.ts';
import { ensureTestImage, testImage } from '../support/test-image.ts';

const mib = 1024 * 1024;
const testRun = randomUUID();
const testLabel = `omni.test-run=${testRun}`;
const docker = new Docker();

async function ownContainers(): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [testLabel] } });
  return list.map((container) => container.Id).sort();
}

/** A started sandbox container owned by `workerId`, as a worker would leave it when it dies mid-run. */
async function orphanOf(workerId: string, imageId: string): Promise<string> {
  const options = buildContainerOptions(
    {
      spec: {
        image: testImage,
        command: ['sleep', '1000'],
        env: {},
        timeoutMs: 5_000,
        limits: { memoryBytes: 32 * mib, cpus: 0.5, pids: 16 },
      },
      labels: { jobId: `job-${randomUUID()}`, attempt: 1, workerId },
    },
    {
      allowedImages: [testImage],
      user: '65534:65534',
      defaults: { memoryBytes: 32 * mib, cpus: 0.5, pids: 16, timeoutMs: 5_000 },
      maxima: { memoryBytes: 32 * mib, cpus: 0.5, pids: 16, timeoutMs: 5_000 },
      outputLimitBytes: 1024,
      tmpfsBytes: mib,
    },
    { imageId, extraLabels: { 'omni.test-run': testRun } },
  );
  const container = await docker.createContainer(options);
  await container.start();
  return container.id;
}

let imageId = '';

beforeAll(async () => {
  await ensureTestImage();
  imageId = (await docker.getImage(testImage).inspect()).Id;
}, 120_000);

afterAll(async () => {
  for (const id of await ownContainers()) {
    await docker.getContainer(id).remove({ force: true });
  }
  expect(await ownContainers()).toEqual([]);
});

describe('container reaper', () => {
  it('removes the containers of dead workers and leaves live workers alone', async () => {
    const dead = `dead-${randomUUID()}`;
    const live = `live-${randomUUID()}`;
    const orphans = [await orphanOf(dead, imageId), await orphanOf(dead, imageId)].sort();
    const kept = await orphanOf(live, imageId);
    const asked: string[] = [];

    const removed = await reapContainers(docker, {
      isAlive: async (workerId) => {
        asked.push(workerId);
        return workerId === live;
      },
      labels: [testLabel],
    });

    expect([...removed].sort()).toEqual(orphans);
    expect(await ownContainers()).toEqual([kept]);
    // One liveness question per worker, not per container.
    expect(asked.sort()).toEqual([dead, live].sort());
  });

  it('removes nothing when every owner is alive', async () => {
    const removed = await reapContainers(docker, { isAlive: () => true, labels: [testLabel] });
    expect(removed).toEqual([]);
  });
});
