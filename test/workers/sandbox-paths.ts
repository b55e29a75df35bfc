import { randomUUID } from 'node:crypto';
import {
  createDockerSandbox,
  type DockerSandbox,
  type DockerSandboxDeps,
} from '../../workers/sandbox/docker-sandbox.ts';
import type { SandboxPath } from '../../workers/sandbox/sandbox.ts';

/** Both ways an attempt gets its container: the sandbox suites run once on each. */
export const sandboxPaths: readonly SandboxPath[] = ['cold', 'warm'];

/**
 * A Docker sandbox whose every run takes `path`. On the warm path each run first waits for a
 * container of its profile to be ready (so it cannot quietly fall back to cold), checks that the
 * result says warm, and drains the pool afterwards, so a suite's "no container outlives a run"
 * checks hold on both paths alike.
 */
export function sandboxOnPath(path: SandboxPath, deps: DockerSandboxDeps): DockerSandbox {
  if (path === 'cold') {
    const sandbox = createDockerSandbox(deps);
    return {
      ...sandbox,
      run: async (request) => {
        const result = await sandbox.run(request);
        if (result.path !== 'cold') throw new Error(`expected a cold run, got ${String(result.path)}`);
        return result;
      },
    };
  }
  const workerId = deps.warmPool?.workerId ?? `warm-test-${randomUUID()}`;
  const base = createDockerSandbox(deps);
  return {
    ...base,
    run: async (request) => {
      // A pool of its own per run, drained after it: nothing waits between runs.
      const sandbox = createDockerSandbox({ ...deps, warmPool: { size: 1, workerId } });
      try {
        // An image that cannot be prepared fails the run itself, on either path, in the same way.
        const imageId =
          request.imageId ?? (await sandbox.prepare(request.spec).catch(() => undefined))?.imageId;
        const ready = imageId !== undefined && (await sandbox.warmUp(request.spec, imageId));
        const result = await sandbox.run(request);
        if (!ready) throw new Error('the warm pool never had a container ready for this run');
        if (result.path !== 'warm') throw new Error(`expected a warm run, got ${String(result.path)}`);
        return result;
      } finally {
        await sandbox.close();
      }
    },
  };
}
