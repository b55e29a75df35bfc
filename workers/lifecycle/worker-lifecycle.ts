import type { Worker } from 'bullmq';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import type { EventStore } from '../../events/event-store.ts';
import { reapContainers } from '../sandbox/container-reaper.ts';
import type { AttemptControl } from './attempt-control.ts';
import { startCancelWatcher } from './cancel-watcher.ts';
import type { WorkerLeases } from './worker-leases.ts';

export interface WorkerLifecycleDeps {
  readonly workerId: string;
  readonly store: EventStore;
  readonly docker: Docker;
  readonly leases: WorkerLeases;
  readonly control: AttemptControl;
  /** A direct connection for the cancellation LISTEN. */
  readonly connectionString: string;
  readonly logger: Logger;
  readonly leaseMs: number;
  /** On stop, how long running attempts may go on before they are killed and recorded abandoned. */
  readonly shutdownGraceMs: number;
  /** Label filters confining the reaper to this deployment's containers. */
  readonly reaperLabels: readonly string[];
  /** Creates the BullMQ worker; called once the lease is held, so no attempt starts without one. */
  readonly startWorker: () => Worker;
}

export interface RunningWorkerLifecycle {
  readonly worker: Worker;
  /** Graceful: stop taking work, let runs finish within the grace period, then stop the rest. */
  stop(): Promise<void>;
}

/**
 * Everything around the BullMQ worker that makes a crash recoverable: the lease others judge this
 * worker's liveness by, the reaper removing containers of dead workers (on start and
 * periodically), the cancellation watcher, and a graceful stop.
 */
export async function startWorkerLifecycle(deps: WorkerLifecycleDeps): Promise<RunningWorkerLifecycle> {
  const { workerId, leases, logger } = deps;
  await leases.renew(workerId, deps.leaseMs);
  const heartbeat = setInterval(
    () =>
      void leases
        .renew(workerId, deps.leaseMs)
        .catch((error: unknown) => logger.error({ err: error }, 'lease renewal failed')),
    Math.max(250, Math.floor(deps.leaseMs / 3)),
  );
  const reap = async () => {
    try {
      const removed = await reapContainers(deps.docker, {
        isAlive: (owner) => owner === workerId || leases.isAlive(owner),
        labels: deps.reaperLabels,
      });
      if (removed.length > 0) logger.warn({ removed: removed.length }, 'reaped containers of dead workers');
    } catch (error) {
      logger.error({ err: error }, 'container reaping failed');
    }
  };
  await reap();
  const reaper = setInterval(() => void reap(), deps.leaseMs);
  const watcher = await startCancelWatcher({
    store: deps.store,
    connectionString: deps.connectionString,
    control: deps.control,
    onError: (error) => logger.warn({ err: error }, 'cancellation watcher'),
  });
  const worker = deps.startWorker();

  return {
    worker,
    async stop() {
      const closing = worker.close();
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<'grace-over'>((resolve) => {
        timer = setTimeout(() => resolve('grace-over'), deps.shutdownGraceMs);
      });
      if ((await Promise.race([closing, graceOver])) === 'grace-over') {
        logger.warn(
          { running: deps.control.runningJobIds().length },
          'grace period over; stopping the remaining attempts',
        );
        deps.control.stopAll('shutdown');
        await closing;
      }
      clearTimeout(timer);
      clearInterval(reaper);
      clearInterval(heartbeat);
      await watcher.stop();
      await leases.release(workerId).catch(() => undefined);
    },
  };
}
