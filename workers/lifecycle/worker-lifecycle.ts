import type { Worker } from 'bullmq';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import type { EventStore } from '../../events/event-store.ts';
import { reapContainers } from '../sandbox/container-reaper.ts';
import { isEngineFault } from '../sandbox/docker-errors.ts';
import type { AttemptControl } from './attempt-control.ts';
import { startCancelWatcher } from './cancel-watcher.ts';
import type { OutageGate } from './outage-gate.ts';
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
  /**
   * The worker-wide outage gate: while it is closed the BullMQ worker fetches nothing, and when it
   * reopens after a Docker outage this worker reaps its own leftovers at once. Absent: no pausing.
   */
  readonly gate?: OutageGate;
  /**
   * Whether this worker's warm pool still uses a warm container (by its labels), so its reaper
   * leaves it alone in any state. Absent: running warm containers are left alone, stopped ones reaped.
   */
  readonly holdsWarm?: (labels: Readonly<Record<string, string>>) => boolean;
  /** Longest each engine call of the reaper may take; default 15 s. */
  readonly engineTimeoutMs?: number;
}

/** After the grace, how long stopped attempts get to record themselves before the stop goes on. */
const stopAllowanceMs = 5_000;

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
  const { gate } = deps;
  let reaping: Promise<void> | undefined;
  const reapOnce = async () => {
    try {
      // Its own containers too: a run whose removal failed (the engine went away) leaves one behind.
      const removed = await reapContainers(deps.docker, {
        isAlive: (owner) => leases.isAlive(owner),
        labels: deps.reaperLabels,
        self: {
          workerId,
          isRunningHere: (jobId) => deps.control.runningJobIds().includes(jobId),
          ...(deps.holdsWarm ? { holdsWarm: deps.holdsWarm } : {}),
        },
        ...(deps.engineTimeoutMs === undefined ? {} : { timeoutMs: deps.engineTimeoutMs }),
      });
      if (removed.length > 0)
        logger.warn(
          { removed: removed.length },
          'reaped leftover containers (of dead workers or of runs the engine lost)',
        );
    } catch (error) {
      // The reaper doubles as the idle worker's engine check: an outage closes the gate (logged there).
      if (isEngineFault(error) && gate) gate.report('docker', error);
      else logger.error({ err: error }, 'container reaping failed');
    }
  };
  // One reap at a time: a hung engine must not pile them up.
  const reap = () => {
    if (gate?.down().includes('docker')) return Promise.resolve();
    reaping ??= reapOnce().finally(() => {
      reaping = undefined;
    });
    return reaping;
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
  logger.info('worker is taking work');
  // While a dependency is down nothing is fetched: a message BullMQ still hands over goes back
  // (the processor checks the gate), so an outage costs no attempt and burns no CPU.
  const stopGating = gate?.onChange((open) => {
    const change = open ? worker.resume() : worker.pause(true);
    void Promise.resolve(change).catch((error: unknown) =>
      logger.error({ err: error }, open ? 'could not resume taking work' : 'could not pause taking work'),
    );
    if (open) void reap();
  });

  return {
    worker,
    async stop() {
      stopGating?.();
      gate?.stop();
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
        // Stopped runs end at once, even with a hung engine (its calls have deadlines); the allowance
        // only bounds the stop if something else hangs: the reconciler then records what is left.
        let allowance: NodeJS.Timeout | undefined;
        const allowanceOver = new Promise<'over'>((resolve) => {
          allowance = setTimeout(() => resolve('over'), stopAllowanceMs);
        });
        if ((await Promise.race([closing, allowanceOver])) === 'over')
          logger.error(
            { running: deps.control.runningJobIds().length },
            'attempts did not stop within the allowance after the grace period; leaving them to the reconciler',
          );
        clearTimeout(allowance);
      }
      clearTimeout(timer);
      clearInterval(reaper);
      clearInterval(heartbeat);
      await watcher.stop();
      await leases.release(workerId).catch(() => undefined);
    },
  };
}
