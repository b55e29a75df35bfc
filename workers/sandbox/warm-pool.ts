import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import type { SandboxPolicy } from '../../schemas/config.schema.ts';
import { buildWarmContainerOptions, type WarmProfile } from './container-options.ts';
import { dockerStatusCode, engineAddress, isEngineFault, withEngineDeadline } from './docker-errors.ts';
import { warmReadyByte } from './warm-wrapper.ts';

/**
 * The label naming a warm container's slot in its pool, set before it is created: its worker's
 * reaper asks the pool (`holds`) whether it is still in use, even before the engine said its id.
 */
export const warmSlotLabel = 'omni.warm-slot';

/** A started container whose PID 1 waits for one job on the attached stdin. */
export interface WarmContainer {
  readonly container: Docker.Container;
  /** Its slot (see warmSlotLabel): held by the pool from before its creation until its removal ends. */
  readonly slot: string;
  /** The attach stream, opened before the start: stdin in, the job's stdout/stderr out. */
  readonly stream: Duplex;
  /** The limits it runs under now (the policy's defaults until `docker update` changes them). */
  readonly limits: { readonly memoryBytes: number; readonly cpus: number; readonly pids: number };
  /**
   * Stops the pool watching the stream and returns any bytes that came after the ready byte (none
   * from the wrapper itself), so the caller's capture sees every byte the container printed.
   */
  handOver(): Buffer;
}

export interface WarmPoolOptions {
  readonly docker: Docker;
  readonly policy: SandboxPolicy;
  /** Containers kept started ahead per profile; 0 disables the pool. */
  readonly size: number;
  /** The worker-id label on every pool container: a crashed worker's are reaped by it. */
  readonly workerId: string;
  readonly extraLabels?: Readonly<Record<string, string>>;
  /** Longest one engine call may take while filling or removing; default 15 s. */
  readonly engineTimeoutMs?: number;
  /** Told when a pool container could not be removed (the reaper's, once this worker is gone). */
  readonly onCleanupError?: (error: unknown, containerId: string) => void;
  /** Told when filling failed for a reason other than the image (the engine): filling pauses. */
  readonly onFillError?: (error: unknown) => void;
}

export interface WarmPool {
  /**
   * A warm container for this profile, never one handed out before; waits for one being started
   * when none is ready. Undefined: take the cold path (pool off, image cannot run warm, engine trouble).
   */
  take(profile: WarmProfile, signal?: AbortSignal): Promise<WarmContainer | undefined>;
  /** Starts filling for a profile; resolves true once a container is ready, false if it never will be. */
  warmUp(profile: WarmProfile): Promise<boolean>;
  /** Removes a used or unusable container, in the background; `settled` waits for it. */
  discard(warm: WarmContainer): void;
  /** Resolves once every removal asked for so far has ended. */
  settled(): Promise<void>;
  /** Containers ready now for a profile. */
  readyCount(profile: WarmProfile): number;
  /**
   * Whether a container (by its labels) is this pool's and still in use: being created or started,
   * waiting, running its job, or being removed. Its worker's reaper leaves those alone; a warm
   * container the pool let go of (its removal failed) is the reaper's.
   */
  holds(labels: Readonly<Record<string, string>>): boolean;
  /**
   * Stops filling and removes every container the pool holds (shutdown), waiting for the removals
   * unless the engine does not answer a ping (sooner when `engineFailed` says a run just met an
   * engine fault): then what is left is reaped once this worker's lease is gone.
   */
  close(options?: { readonly engineFailed?: boolean }): Promise<void>;
}

/** Distinct profiles kept warm at once; the least recently used one is drained for a new one. */
const maxProfiles = 4;

/**
 * Longest an attempt waits for a container being started for its profile before it starts its
 * own: well past a start on a loaded host, well short of the engine deadline a hung engine runs to.
 */
const maxFillWaitMs = 5_000;

/** How long filling pauses after the engine failed a fill. */
const fillBackoffMs = 5_000;

/**
 * A healthy engine answers a ping in milliseconds; a drain does not wait on one that takes this
 * long, or the shorter time once a run just met an engine fault (it most likely still hangs).
 */
const closePingMs = 1_000;
const closePingAfterFaultMs = 250;

interface ProfilePool {
  readonly profile: WarmProfile;
  readonly ready: WarmContainer[];
  readonly waiters: ((warm: WarmContainer | undefined) => void)[];
  readonly readyListeners: ((ready: boolean) => void)[];
  filling: number;
  /** The image cannot run warm (no sh/tar/sleep, or an ENTRYPOINT the warm wrapper would bypass). */
  coldOnly: boolean;
  pausedUntil: number;
  lastUsed: number;
  evicted: boolean;
}

/** How the engine says a container's command does not exist (runc and runsc alike). */
const missingExecutable = /executable file not found|no such file or directory/i;

/** The warm container's stream ended before its ready byte: the container exited. */
class ContainerEnded extends Error {}

/** A fill that did not give a container, and whether the image is why. */
class FillFailure extends Error {
  readonly imageCannotRunWarm: boolean;
  constructor(message: string, imageCannotRunWarm: boolean, options?: ErrorOptions) {
    super(message, options);
    this.imageCannotRunWarm = imageCannotRunWarm;
  }
}

/**
 * Per-profile pools of containers created and started ahead of need, each used for one attempt and
 * removed: never reused, so no attempt sees what another left. Refilled in the background as
 * containers are taken, drained by `close`.
 */
export function createWarmPool(options: WarmPoolOptions): WarmPool {
  const { docker, policy, size } = options;
  const engine = engineAddress(docker);
  const callMs = options.engineTimeoutMs ?? 15_000;
  const pools = new Map<string, ProfilePool>();
  const removals = new Set<Promise<void>>();
  const fills = new Set<Promise<void>>();
  // Slots from before their container's creation until its removal ended (see warmSlotLabel).
  const held = new Set<string>();
  // Once per image: an ENTRYPOINT would run before the job on the cold path, not under the wrapper.
  const entrypointChecks = new Map<string, Promise<boolean>>();
  let closed = false;

  const keyOf = (profile: WarmProfile) => `${profile.imageId}\u0000${profile.collects ? 'out' : ''}`;

  const poolFor = (profile: WarmProfile): ProfilePool => {
    const key = keyOf(profile);
    let pool = pools.get(key);
    if (!pool) {
      if (pools.size >= maxProfiles) {
        const [oldestKey, oldest] =
          [...pools.entries()].sort((a, b) => a[1].lastUsed - b[1].lastUsed)[0] ?? [];
        if (oldestKey !== undefined && oldest) {
          pools.delete(oldestKey);
          evict(oldest);
        }
      }
      pool = {
        profile,
        ready: [],
        waiters: [],
        readyListeners: [],
        filling: 0,
        coldOnly: false,
        pausedUntil: 0,
        lastUsed: Date.now(),
        evicted: false,
      };
      pools.set(key, pool);
    }
    return pool;
  };

  const evict = (pool: ProfilePool): void => {
    pool.evicted = true;
    for (const warm of pool.ready.splice(0)) discard(warm);
    for (const waiter of pool.waiters.splice(0)) waiter(undefined);
    for (const listener of pool.readyListeners.splice(0)) listener(false);
  };

  const discard = (warm: WarmContainer): void => {
    warm.handOver();
    warm.stream.destroy();
    release(warm.slot, warm.container);
  };

  // Removes a container the pool made and lets go of its slot once the removal ended.
  const release = (slot: string, container: Docker.Container): void => {
    const removal = removeWithRetry(container).finally(() => {
      removals.delete(removal);
      held.delete(slot);
    });
    removals.add(removal);
  };

  const removeWithRetry = async (container: Docker.Container): Promise<void> => {
    for (let attempt = 1; attempt <= 2; attempt += 1) {
      try {
        await withEngineDeadline(engine, 'removing a warm container', callMs, (signal) =>
          container.remove({ force: true, v: true, abortSignal: signal }),
        );
        return;
      } catch (error) {
        const status = dockerStatusCode(error);
        if (status === 404 || status === 409) return;
        if (attempt === 2 || isEngineFault(error)) {
          options.onCleanupError?.(error, container.id);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 250).unref());
      }
    }
  };

  const refill = (pool: ProfilePool): void => {
    if (closed || pool.evicted || pool.coldOnly || Date.now() < pool.pausedUntil) return;
    while (pool.ready.length + pool.filling < size) {
      pool.filling += 1;
      const fill = fillOne(pool.profile)
        .then(
          (warm) => {
            pool.filling -= 1;
            if (closed || pool.evicted) {
              discard(warm);
              return;
            }
            watchWhileWaiting(pool, warm);
            const waiter = pool.waiters.shift();
            if (waiter) waiter(warm);
            else pool.ready.push(warm);
            for (const listener of pool.readyListeners.splice(0)) listener(true);
          },
          (error: unknown) => {
            pool.filling -= 1;
            if (error instanceof FillFailure && error.imageCannotRunWarm) pool.coldOnly = true;
            else {
              pool.pausedUntil = Date.now() + fillBackoffMs;
              options.onFillError?.(error);
            }
            // Whoever waits for this fill runs cold now rather than waiting for a later one.
            if (pool.waiters.length > pool.filling) pool.waiters.shift()?.(undefined);
            if (pool.coldOnly || pool.filling === 0) {
              for (const waiter of pool.waiters.splice(0)) waiter(undefined);
              for (const listener of pool.readyListeners.splice(0)) listener(false);
            }
          },
        )
        .finally(() => fills.delete(fill));
      fills.add(fill);
    }
  };

  // A waiting container that exits (killed from outside, engine restart) is dropped and replaced.
  const watchWhileWaiting = (pool: ProfilePool, warm: WarmContainer): void => {
    const gone = () => {
      const index = pool.ready.indexOf(warm);
      if (index === -1) return;
      pool.ready.splice(index, 1);
      discard(warm);
      refill(pool);
    };
    warm.stream.once('end', gone);
    warm.stream.once('close', gone);
    const handOver = warm.handOver;
    (warm as { handOver: () => Buffer }).handOver = () => {
      warm.stream.removeListener('end', gone);
      warm.stream.removeListener('close', gone);
      return handOver();
    };
  };

  const entrypointAllowsWarm = (imageId: string): Promise<boolean> => {
    let check = entrypointChecks.get(imageId);
    if (!check) {
      // dockerode's image inspect takes no abort signal: the deadline alone bounds it.
      check = withEngineDeadline(engine, 'inspecting the image', callMs, () =>
        docker.getImage(imageId).inspect(),
      ).then((info) => (info.Config?.Entrypoint ?? []).length === 0);
      // A failed look is asked again next time; only an answer is kept.
      check.catch(() => entrypointChecks.delete(imageId));
      entrypointChecks.set(imageId, check);
    }
    return check;
  };

  const fillOne = async (profile: WarmProfile): Promise<WarmContainer> => {
    if (!(await entrypointAllowsWarm(profile.imageId)))
      throw new FillFailure('the image has an ENTRYPOINT, which the warm wrapper would bypass', true);
    const createOptions = buildWarmContainerOptions(profile, policy, {
      workerId: options.workerId,
      ...(options.extraLabels ? { extraLabels: options.extraLabels } : {}),
    });
    const slot = randomUUID();
    held.add(slot);
    const container = await withEngineDeadline(engine, 'creating a warm container', callMs, (signal) =>
      docker.createContainer({
        ...createOptions,
        Labels: { ...createOptions.Labels, [warmSlotLabel]: slot },
        abortSignal: signal,
      }),
    ).catch((error: unknown) => {
      // A create the engine carries out after its deadline leaves a container no slot holds: reaped.
      held.delete(slot);
      throw error;
    });
    let stream: Duplex | undefined;
    try {
      stream = (await withEngineDeadline(engine, 'attaching to a warm container', callMs, (signal) =>
        container.attach({
          stream: true,
          stdout: true,
          stderr: true,
          stdin: true,
          hijack: true,
          abortSignal: signal,
        }),
      )) as Duplex;
      const ready = readyByte(stream, callMs);
      // Read below once started; a start that fails first leaves it to reject unheard.
      ready.catch(() => undefined);
      try {
        await withEngineDeadline(engine, 'starting a warm container', callMs, (signal) =>
          container.start({ abortSignal: signal }),
        );
      } catch (error) {
        // The engine refused because the image has no `sh`: that image runs cold from now on.
        // Any other refusal (resources, the runtime) only pauses filling.
        const missing = !isEngineFault(error) && missingExecutable.test((error as Error).message);
        throw new FillFailure(`the warm wrapper could not start: ${(error as Error).message}`, missing, {
          cause: error,
        });
      }
      const early = await ready.catch(async (error: unknown) => {
        if (!(error instanceof ContainerEnded)) throw error;
        // Exit status 127: the wrapper's own check found no tar or sleep. Anything else (killed
        // from outside, out of memory at start) says nothing about the image.
        const info = await withEngineDeadline(engine, 'inspecting a warm container', callMs, (signal) =>
          container.inspect({ abortSignal: signal }),
        ).catch(() => undefined);
        throw new FillFailure(error.message, info?.State.ExitCode === 127);
      });
      return handOverable(container, slot, stream, early, policy);
    } catch (error) {
      stream?.destroy();
      release(slot, container);
      throw error;
    }
  };

  return {
    async take(profile, signal) {
      if (size <= 0 || closed) return undefined;
      const pool = poolFor(profile);
      pool.lastUsed = Date.now();
      if (pool.coldOnly) return undefined;
      let warm = pool.ready.shift();
      // One whose stream ended is gone, though its 'close' has not been heard yet.
      while (warm && (warm.stream.destroyed || warm.stream.readableEnded)) {
        discard(warm);
        warm = pool.ready.shift();
      }
      refill(pool);
      if (warm) return warm;
      // One being started now is sooner than a cold start of our own, which would compete with it;
      // but not for longer than a start takes on a healthy engine, nor past a cancel.
      if (pool.filling > pool.waiters.length && !signal?.aborted)
        return new Promise<WarmContainer | undefined>((resolve) => {
          const giveUp = () => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', giveUp);
            const index = pool.waiters.indexOf(served);
            if (index !== -1) pool.waiters.splice(index, 1);
            resolve(undefined);
          };
          const served = (warm: WarmContainer | undefined) => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', giveUp);
            resolve(warm);
          };
          const timer = setTimeout(giveUp, maxFillWaitMs);
          timer.unref();
          signal?.addEventListener('abort', giveUp, { once: true });
          pool.waiters.push(served);
        });
      return undefined;
    },
    warmUp(profile) {
      if (size <= 0 || closed) return Promise.resolve(false);
      const pool = poolFor(profile);
      pool.lastUsed = Date.now();
      if (pool.coldOnly) return Promise.resolve(false);
      refill(pool);
      if (pool.ready.length > 0) return Promise.resolve(true);
      if (pool.filling === 0) return Promise.resolve(false);
      return new Promise<boolean>((resolve) => pool.readyListeners.push(resolve));
    },
    discard,
    async settled() {
      while (removals.size > 0) await Promise.all([...removals]);
    },
    readyCount(profile) {
      return pools.get(keyOf(profile))?.ready.length ?? 0;
    },
    holds(labels) {
      const slot = labels[warmSlotLabel];
      return slot !== undefined && held.has(slot);
    },
    async close(closeOptions) {
      closed = true;
      for (const pool of pools.values()) evict(pool);
      pools.clear();
      const drained = (async () => {
        // A fill still in flight discards its container when it lands (closed is set).
        while (fills.size > 0) await Promise.all([...fills]);
        while (removals.size > 0) await Promise.all([...removals]);
      })();
      // An engine that does not answer (stopped, wedged) would hold the shutdown to every removal's
      // deadline: what it leaves is reaped once this worker's lease is gone.
      const answers = withEngineDeadline(
        engine,
        'pinging before draining the warm pool',
        closeOptions?.engineFailed ? closePingAfterFaultMs : closePingMs,
        // dockerode's ping takes no abort signal: the deadline alone bounds it.
        () => docker.ping(),
      ).then(
        () => true,
        () => false,
      );
      const first = await Promise.race([drained.then(() => 'drained' as const), answers]);
      if (first === true) await drained;
    },
  };
}

/**
 * Resolves with whatever followed the wrapper's ready byte once it arrived on stdout (the first
 * frame of the attach stream); rejects when the container ends first (the image lacks the tools)
 * or it never comes.
 */
function readyByte(stream: Duplex, timeoutMs: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    let received = Buffer.alloc(0);
    const finish = (outcome: Error | Buffer) => {
      clearTimeout(timer);
      stream.removeListener('data', onData);
      stream.removeListener('end', onEnd);
      stream.removeListener('close', onEnd);
      stream.removeListener('error', onEnd);
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 9) return;
      const isReadyFrame =
        received[0] === 1 &&
        received.readUInt32BE(4) === 1 &&
        received.toString('latin1', 8, 9) === warmReadyByte;
      if (isReadyFrame) finish(received.subarray(9));
      else finish(new FillFailure('the warm wrapper printed something other than its ready byte', true));
    };
    const onEnd = () => finish(new ContainerEnded('the warm container ended before it was ready'));
    const timer = setTimeout(
      () => finish(new Error(`the warm container was not ready within ${timeoutMs} ms`)),
      timeoutMs,
    );
    timer.unref();
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('close', onEnd);
    stream.once('error', onEnd);
  });
}

/** Keeps any early bytes until the caller takes the stream over. */
function handOverable(
  container: Docker.Container,
  slot: string,
  stream: Duplex,
  early: Buffer,
  policy: SandboxPolicy,
): WarmContainer {
  const pending: Buffer[] = [early];
  const keep = (chunk: Buffer) => pending.push(chunk);
  stream.on('data', keep);
  // A broken pipe while nobody runs a job here is the container going away, seen by 'close'.
  const ignore = () => undefined;
  stream.on('error', ignore);
  return {
    container,
    slot,
    stream,
    limits: {
      memoryBytes: policy.defaults.memoryBytes,
      cpus: policy.defaults.cpus,
      pids: policy.defaults.pids,
    },
    handOver() {
      stream.removeListener('data', keep);
      stream.removeListener('error', ignore);
      return Buffer.concat(pending.splice(0));
    },
  };
}
