import type Docker from 'dockerode';
import { sandboxLabels } from './container-options.ts';
import { dockerStatusCode, engineAddress, withEngineDeadline } from './docker-errors.ts';

export interface ReapOptions {
  /** Whether the worker that created a container still runs; its containers are then left alone. */
  readonly isAlive: (workerId: string) => Promise<boolean> | boolean;
  /** Extra `key=value` label filters narrowing what is considered (tests confine the reaper to their own run). */
  readonly labels?: readonly string[];
  /**
   * The reaping worker itself: its own containers are removed too unless `isRunningHere` says the
   * attempt they belong to still runs in it (a run whose removal failed, or that the engine lost).
   */
  readonly self?: {
    readonly workerId: string;
    readonly isRunningHere: (jobId: string, attempt: number) => boolean;
    /**
     * Whether its warm pool still uses a warm container (by its labels), in any state: one being
     * started, or whose job just ended and is being read, is not a leftover. Absent: a running warm
     * container is taken to be in use, a stopped one is not.
     */
    readonly holdsWarm?: (labels: Readonly<Record<string, string>>) => boolean;
  };
  /** Longest each engine call may take; default 15 s. A hung engine fails the reap, never holds it. */
  readonly timeoutMs?: number;
}

/**
 * Force-removes sandbox containers (label omni.managed=true) whose owning worker is gone, and the
 * reaping worker's own leftovers (not the containers its warm pool holds), and returns their ids. A
 * managed container without a worker label has no owner and is removed too.
 */
export async function reapContainers(docker: Docker, options: ReapOptions): Promise<string[]> {
  const engine = engineAddress(docker);
  const timeoutMs = options.timeoutMs ?? 15_000;
  const containers = await withEngineDeadline(engine, 'listing sandbox containers', timeoutMs, (signal) =>
    docker.listContainers({
      all: true,
      filters: { label: [`${sandboxLabels.managed}=true`, ...(options.labels ?? [])] },
      abortSignal: signal,
    }),
  );
  // One liveness check per worker, however many containers it owns.
  const liveness = new Map<string, Promise<boolean>>();
  const removed: string[] = [];
  for (const summary of containers) {
    const workerId = summary.Labels[sandboxLabels.workerId];
    if (workerId !== undefined && workerId !== '') {
      if (workerId === options.self?.workerId) {
        // A warm container of this worker that its pool holds waits there or runs a job: the pool
        // removes it. One the pool let go of is a leftover (its removal failed) and goes like any other.
        if (summary.Labels[sandboxLabels.warm] === 'true') {
          const held = options.self.holdsWarm
            ? options.self.holdsWarm(summary.Labels)
            : summary.State === 'running';
          if (held) continue;
        } else {
          const jobId = summary.Labels[sandboxLabels.jobId] ?? '';
          const attempt = Number(summary.Labels[sandboxLabels.attempt]);
          if (options.self.isRunningHere(jobId, attempt)) continue;
        }
      } else {
        let alive = liveness.get(workerId);
        if (!alive) {
          alive = Promise.resolve(options.isAlive(workerId));
          liveness.set(workerId, alive);
        }
        if (await alive) continue;
      }
    }
    try {
      await withEngineDeadline(engine, 'removing a leftover container', timeoutMs, (signal) =>
        docker.getContainer(summary.Id).remove({ force: true, v: true, abortSignal: signal }),
      );
      removed.push(summary.Id);
    } catch (error) {
      // Gone already, or its own worker is removing it right now: either way it will not linger.
      const status = dockerStatusCode(error);
      if (status !== 404 && status !== 409) throw error;
    }
  }
  return removed;
}
