import type Docker from 'dockerode';
import { sandboxLabels } from '../../workers/sandbox/container-options.ts';

/**
 * The containers that belong to attempts, leaving out those a live worker's warm pool keeps
 * waiting. A waiting pool container runs, carries the warm label and no job's labels; so does one
 * that was taken and runs a job, which the caller counts by other means (the log). So at most
 * `poolCapacity` running warm containers are taken to be waiting (workers × profiles × size);
 * any beyond that, and every stopped warm one (its job ended, its removal did not happen), count
 * as left over.
 */
export function withoutWaitingPool(
  containers: readonly Docker.ContainerInfo[],
  poolCapacity: number,
): Docker.ContainerInfo[] {
  let waiting = 0;
  return containers.filter((container) => {
    const isWaitingKind = container.Labels[sandboxLabels.warm] === 'true' && container.State === 'running';
    if (!isWaitingKind || waiting >= poolCapacity) return true;
    waiting += 1;
    return false;
  });
}

/** Whether a container was started ahead by a warm pool (waiting, or running the job it was given). */
export const isPoolContainer = (container: Docker.ContainerInfo): boolean =>
  container.Labels[sandboxLabels.warm] === 'true';
