import type Docker from 'dockerode';
import { sandboxLabels } from './container-options.ts';
import { dockerStatusCode } from './docker-errors.ts';

export interface ReapOptions {
  /** Whether the worker that created a container still runs; its containers are then left alone. */
  readonly isAlive: (workerId: string) => Promise<boolean> | boolean;
  /** Extra `key=value` label filters narrowing what is considered (tests confine the reaper to their own run). */
  readonly labels?: readonly string[];
}

/**
 * Force-removes sandbox containers (label omni.managed=true) whose owning worker is gone, and
 * returns their ids. A managed container without a worker label has no owner and is removed too.
 */
export async function reapContainers(docker: Docker, options: ReapOptions): Promise<string[]> {
  const containers = await docker.listContainers({
    all: true,
    filters: { label: [`${sandboxLabels.managed}=true`, ...(options.labels ?? [])] },
  });
  // One liveness check per worker, however many containers it owns.
  const liveness = new Map<string, Promise<boolean>>();
  const removed: string[] = [];
  for (const summary of containers) {
    const workerId = summary.Labels[sandboxLabels.workerId];
    if (workerId !== undefined && workerId !== '') {
      let alive = liveness.get(workerId);
      if (!alive) {
        alive = Promise.resolve(options.isAlive(workerId));
        liveness.set(workerId, alive);
      }
      if (await alive) continue;
    }
    try {
      await docker.getContainer(summary.Id).remove({ force: true, v: true });
      removed.push(summary.Id);
    } catch (error) {
      // Gone already, or its own worker is removing it right now: either way it will not linger.
      const status = dockerStatusCode(error);
      if (status !== 404 && status !== 409) throw error;
    }
  }
  return removed;
}
