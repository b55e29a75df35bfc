import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { defaultFileLimits, type SandboxPolicy } from '../../schemas/config.schema.ts';
import { buildContainerOptions, type WarmProfile } from './container-options.ts';
import {
  dockerStatusCode,
  engineAddress,
  engineLostRun,
  engineTimeout,
  isEngineFault,
  isEngineTimeout,
  toSandboxError,
  withEngineDeadline,
} from './docker-errors.ts';
import { findAllowedImage } from './image-allowlist.ts';
import { resolveAllowedImage } from './image-resolver.ts';
import { buildInputArchive } from './input-archive.ts';
import { jobArchiveFiles, needsWrapper } from './job-wrapper.ts';
import { createOutputBatcher, defaultBatching, type OutputBatcherOptions } from './output-batcher.ts';
import { createOutputCapture } from './output-capture.ts';
import { collectOut, type OutCollection } from './output-collector.ts';
import { type CollectedOutputs, collectOutputs } from './output-files.ts';
import { startPeakMemorySampler } from './peak-memory.ts';
import { processLimits } from './runtime-limits.ts';
import type { Sandbox, SandboxExitReason, SandboxResult, SandboxRunRequest } from './sandbox.ts';
import { SandboxError } from './sandbox.ts';
import { createWarmPool, type WarmContainer, type WarmPool } from './warm-pool.ts';
import { createReceiptReader } from './warm-receipt.ts';
import { warmEligible, warmJobStdin } from './warm-wrapper.ts';

export interface DockerSandboxDeps {
  readonly docker: Docker;
  readonly policy: SandboxPolicy;
  /** Extra container labels (tests tag their containers to find and remove them). */
  readonly extraLabels?: Readonly<Record<string, string>>;
  /** Told when a container could not be removed; the reaper removes it later. Default: ignore. */
  readonly onCleanupError?: (error: unknown, containerId: string) => void;
  /** Told when the warm pool could not start a container (the engine failed): filling pauses. */
  readonly onWarmFillError?: (error: unknown) => void;
  /** How live output is batched; default 16 KiB / 250 ms. */
  readonly batching?: Pick<OutputBatcherOptions, 'maxBytes' | 'maxDelayMs'>;
  /**
   * Longest any single engine call may take (create, start, inspect, remove), and how long past
   * the job's own timeout its exit may take to be reported, before the engine counts as hung.
   * Default 15 s.
   */
  readonly engineTimeoutMs?: number;
  /**
   * Containers kept started ahead per sandbox profile (see warm-pool.ts), labelled with this
   * worker's id; absent or size 0: every attempt creates and starts its own container.
   */
  readonly warmPool?: { readonly size: number; readonly workerId: string };
}

/** The Docker sandbox, with its warm pool's controls. */
export interface DockerSandbox extends Sandbox {
  /** Starts filling the warm pool for this spec's profile; true once a container waits for it. */
  warmUp(spec: SandboxRunRequest['spec'], imageId: string): Promise<boolean>;
  /** Resolves once every used warm container is removed. */
  settled(): Promise<void>;
  /** Whether the warm pool still uses this warm container (by its labels): see WarmPool.holds. */
  holdsWarm(labels: Readonly<Record<string, string>>): boolean;
  /** Drains the warm pool: every waiting container is removed (shutdown). */
  close(): Promise<void>;
}

/** An engine answers a kill at once; this long without an answer (or an exit after it) means it hangs. */
const killConfirmMaxMs = 3_000;

/**
 * How often a run checks, on a fresh connection, that the engine still knows its container. An
 * engine that dies (SIGKILL) leaves the wait and attach connections open and silent forever; a
 * restarted one answers new connections only. Seen stopped three times in a row while the wait
 * has not returned (a slow engine reports an exit in well under 4 s), or unreachable, the run ends
 * as an engine fault.
 */
const watchIntervalMs = 2_000;

/** The deadlines one run works with. */
interface EngineDeadlines {
  /** The engine's address, named in every fault message. */
  readonly engine: string;
  readonly callMs: number;
  readonly killMs: number;
}

function deadlinesFor(deps: DockerSandboxDeps): EngineDeadlines {
  const callMs = deps.engineTimeoutMs ?? 15_000;
  return { engine: engineAddress(deps.docker), callMs, killMs: Math.min(callMs, killConfirmMaxMs) };
}

/**
 * The waits, one after another, an unexplained SIGKILL exit gives the engine to report an OOM kill
 * (1.75 s in all). Under runsc on a loaded host the report was seen to come later than 250 ms.
 */
const oomReportWaitsMs = [250, 500, 1_000];

/** The share of its memory limit a SIGKILLed container must have reached to count as OOM-killed. */
const oomPeakShare = 0.9;

/** How long to wait for the attach stream to deliver its last bytes after the container exited. */
const drainTimeoutMs = 2_000;

/** How often a wrapper whose /out was read is told again to exit, until the container stops. */
const releaseRepeatMs = 1_000;

/** Room for tar's headers on top of the /out tmpfs's size. */
const archiveOverheadBytes = 1024 * 1024;

/**
 * What the wrapper reads on stdin: whether /out is collected, then a tar of the inline files, the
 * uploaded inputs (read-only) and the job's own stdin. Undefined for a job that runs without it.
 */
async function wrapperStdin(request: SandboxRunRequest, collects: boolean): Promise<Buffer | undefined> {
  const { spec } = request;
  if (!needsWrapper(spec)) return undefined;
  const inputs = request.inputs ?? [];
  if (inputs.length !== (spec.inputs?.length ?? 0)) {
    throw new SandboxError('sandbox-failure', "the bytes of the job's input files were not supplied");
  }
  const archive = await buildInputArchive(jobArchiveFiles(spec, inputs));
  return Buffer.concat([Buffer.from(collects ? 'collect\n' : '\n'), archive]);
}

/**
 * A Sandbox running each attempt in a fresh hardened Docker container that is always removed:
 * one started ahead for no job in particular (the warm pool, when configured) or created for it.
 * Throws SandboxError for failures of the sandbox itself; a failing job is a result, not an error.
 */
export function createDockerSandbox(deps: DockerSandboxDeps): DockerSandbox {
  const pool =
    deps.warmPool && deps.warmPool.size > 0
      ? createWarmPool({
          docker: deps.docker,
          policy: deps.policy,
          size: deps.warmPool.size,
          workerId: deps.warmPool.workerId,
          ...(deps.extraLabels ? { extraLabels: deps.extraLabels } : {}),
          ...(deps.engineTimeoutMs === undefined ? {} : { engineTimeoutMs: deps.engineTimeoutMs }),
          ...(deps.onCleanupError ? { onCleanupError: deps.onCleanupError } : {}),
          ...(deps.onWarmFillError ? { onFillError: deps.onWarmFillError } : {}),
        })
      : undefined;
  const limitUpdates: LimitUpdates = { refusedInARow: 0 };
  // Whether the last run ended in an engine fault: a drain then gives the engine less time to answer.
  let engineFailed = false;
  return {
    prepare: (spec) => resolveAllowedImage(deps.docker, deps.policy, spec.image, deadlinesFor(deps).callMs),
    run: (request) =>
      runAttempt(deps, pool, limitUpdates, request).then(
        (result) => {
          engineFailed = false;
          return result;
        },
        (error: unknown) => {
          if (isEngineFault(error)) engineFailed = true;
          throw error;
        },
      ),
    warmUp: (spec, imageId) => pool?.warmUp(profileOf(spec, imageId)) ?? Promise.resolve(false),
    settled: () => pool?.settled() ?? Promise.resolve(),
    holdsWarm: (labels) => pool?.holds(labels) ?? false,
    close: () => pool?.close({ engineFailed }) ?? Promise.resolve(),
  };
}

/**
 * Whether `docker update` works on this engine's runtime: runsc, for one, refuses every update.
 * After that many refusals in a row (and no success), jobs whose limits differ from the policy's
 * defaults go cold at once rather than each using up a warm container to learn it again.
 */
const updateRefusalsBeforeGivingUp = 2;

interface LimitUpdates {
  refusedInARow: number;
}

function profileOf(spec: SandboxRunRequest['spec'], imageId: string): WarmProfile {
  return { imageId, collects: (spec.outputs?.length ?? 0) > 0 };
}

async function runAttempt(
  deps: DockerSandboxDeps,
  pool: WarmPool | undefined,
  limitUpdates: LimitUpdates,
  request: SandboxRunRequest,
): Promise<SandboxResult> {
  const { docker, policy } = deps;
  const { image } = request.spec;
  // Checked again even with a prepared id: the allowlist is the last word on what runs.
  if (!findAllowedImage(policy.allowedImages, image)) {
    throw new SandboxError('image-not-allowed', `image ${image} is not on the sandbox allowlist`);
  }
  const deadlines = deadlinesFor(deps);
  const imageId =
    request.imageId ?? (await resolveAllowedImage(docker, policy, image, deadlines.callMs)).imageId;
  const needsUpdate = !sameLimits(policy.defaults, request.spec.limits);
  const updatesRefused = limitUpdates.refusedInARow >= updateRefusalsBeforeGivingUp;
  if (pool && warmEligible(request.spec) && !(needsUpdate && updatesRefused)) {
    const warm = await pool.take(profileOf(request.spec, imageId), request.signal);
    if (warm) {
      const fitted = await fitLimits(warm, request.spec.limits, deps.policy.runtime, deadlines).catch(
        (error: unknown) => {
          // The engine itself failed (as the cold path's create would now): an engine fault.
          pool.discard(warm);
          throw error;
        },
      );
      if (fitted) {
        if (needsUpdate) limitUpdates.refusedInARow = 0;
        try {
          return await runInWarmContainer(deps, pool, request, imageId, warm, deadlines);
        } catch (error) {
          // It died while it waited, before it read the job: nothing of the job ran, so the
          // attempt runs cold now, at no cost (its death was never the job's).
          if (!(error instanceof NeverHandedIn)) throw error;
        }
      } else {
        // Limits the engine would not set on a running container (the runtime refuses updates,
        // memory already in use): this attempt runs cold, and the container goes unused.
        limitUpdates.refusedInARow += 1;
        pool.discard(warm);
      }
    }
  }
  return runInFreshContainer(deps, request, imageId, deadlines);
}

/** A taken warm container ended without the wrapper's receipt: it never had the job (see warm-receipt.ts). */
class NeverHandedIn extends Error {}

function sameLimits(a: SandboxRunRequest['spec']['limits'], b: SandboxRunRequest['spec']['limits']): boolean {
  return a.memoryBytes === b.memoryBytes && a.cpus === b.cpus && a.pids === b.pids;
}

/**
 * Gives the waiting container the job's own memory, CPU and pids limits (`docker update`), unless
 * it has them already. False when the engine refuses; an engine that does not answer (or is gone)
 * throws its engine fault, which says nothing of whether it would take the update.
 */
async function fitLimits(
  warm: WarmContainer,
  limits: SandboxRunRequest['spec']['limits'],
  runtime: string | undefined,
  deadlines: EngineDeadlines,
): Promise<boolean> {
  if (sameLimits(warm.limits, limits)) return true;
  if (
    !Number.isFinite(limits.memoryBytes) ||
    limits.memoryBytes <= 0 ||
    !(limits.cpus > 0) ||
    !(limits.pids > 0)
  )
    return false;
  const processes = processLimits(limits.pids, runtime);
  // Where the job's process limit is an rlimit of the running wrapper (gVisor), no update can
  // change it: another pids limit runs cold.
  if (processes.nproc !== undefined && limits.pids !== warm.limits.pids) return false;
  try {
    await withEngineDeadline(
      deadlines.engine,
      'setting the limits of a warm container',
      deadlines.callMs,
      (signal) =>
        warm.container.update({
          Memory: limits.memoryBytes,
          MemorySwap: limits.memoryBytes,
          NanoCpus: Math.round(limits.cpus * 1e9),
          PidsLimit: processes.pidsLimit,
          abortSignal: signal,
        }),
    );
    return true;
  } catch (error) {
    if (isEngineFault(error)) throw error;
    return false;
  }
}

async function runInWarmContainer(
  deps: DockerSandboxDeps,
  pool: WarmPool,
  request: SandboxRunRequest,
  imageId: string,
  warm: WarmContainer,
  deadlines: EngineDeadlines,
): Promise<SandboxResult> {
  const { spec } = request;
  const collects = (spec.outputs?.length ?? 0) > 0;
  try {
    const inputs = request.inputs ?? [];
    if (inputs.length !== (spec.inputs?.length ?? 0)) {
      throw new SandboxError('sandbox-failure', "the bytes of the job's input files were not supplied");
    }
    const stdin = await warmJobStdin(spec, inputs, collects);
    return await supervise(
      warm.container,
      request,
      deps.policy,
      imageId,
      deps.batching ?? defaultBatching,
      { collects, stdin, warm },
      deadlines,
    );
  } finally {
    // Used once, then removed (in the background: the result need not wait for it). An engine
    // that failed the run fails this too, and says so through onCleanupError.
    pool.discard(warm);
  }
}

async function runInFreshContainer(
  deps: DockerSandboxDeps,
  request: SandboxRunRequest,
  imageId: string,
  deadlines: EngineDeadlines,
): Promise<SandboxResult> {
  const { docker, policy } = deps;
  const options = buildContainerOptions(request, policy, {
    imageId,
    ...(deps.extraLabels ? { extraLabels: deps.extraLabels } : {}),
  });

  const collects = (request.spec.outputs?.length ?? 0) > 0;
  const stdin = await wrapperStdin(request, collects);

  let container: Docker.Container | undefined;
  let engineFailed = false;
  try {
    container = await withEngineDeadline(
      deadlines.engine,
      'creating the container',
      deadlines.callMs,
      (signal) => docker.createContainer({ ...options, abortSignal: signal }),
    ).catch((error: unknown) => {
      throw toSandboxError(error, 'creating the container', deadlines.engine);
    });
    return await supervise(
      container,
      request,
      policy,
      imageId,
      deps.batching ?? defaultBatching,
      { collects, ...(stdin === undefined ? {} : { stdin }) },
      deadlines,
    );
  } catch (error) {
    engineFailed = isEngineFault(error);
    throw error;
  } finally {
    // An engine that just failed us would only hold the attempt longer: the reaper removes it later.
    if (container && !engineFailed) await removeContainer(container, deadlines, deps.onCleanupError);
    else if (container)
      deps.onCleanupError?.(new Error('the Docker engine failed during the run'), container.id);
  }
}

async function supervise(
  container: Docker.Container,
  request: SandboxRunRequest,
  policy: SandboxPolicy,
  imageId: string,
  batching: Pick<OutputBatcherOptions, 'maxBytes' | 'maxDelayMs'>,
  wrapper: { readonly collects: boolean; readonly stdin?: Buffer; readonly warm?: WarmContainer },
  deadlines: EngineDeadlines,
): Promise<SandboxResult> {
  const { engine } = deadlines;
  const { spec, signal, onOutput } = request;
  const limits = policy.files ?? defaultFileLimits;
  const stdin = wrapper.stdin ?? (spec.stdin === undefined ? undefined : Buffer.from(spec.stdin, 'utf8'));
  const hasStdin = stdin !== undefined;
  const batcher = onOutput ? createOutputBatcher({ ...batching, emit: onOutput }) : undefined;
  // Every byte the container prints is the job's own output: /out comes back on another channel.
  const capture = createOutputCapture(
    policy.outputLimitBytes,
    batcher
      ? (streamType, payload) => batcher.push(streamType === 1 ? 'stdout' : 'stderr', payload)
      : undefined,
    request.secretValues,
  );
  let collection: Promise<OutCollection> | undefined;
  const runOver = new AbortController();
  let release: NodeJS.Timeout | undefined;
  let sampler: ReturnType<typeof startPeakMemorySampler> | undefined;
  let started = false;
  let killReason: SandboxExitReason | undefined;
  let killing: Promise<void> = Promise.resolve();
  // Rejected when the engine stops answering mid-run: the wait for the exit is given up, so a hung
  // engine holds neither the attempt nor a shutdown. The container is left to the reaper.
  let giveUp: (error: Error) => void = () => undefined;
  const givenUp = new Promise<never>((_, reject) => {
    giveUp = reject;
  });
  givenUp.catch(() => undefined);
  let confirmTimer: NodeJS.Timeout | undefined;
  let watch: NodeJS.Timeout | undefined;

  // First reason wins; a kill that finds the container already stopped means the job ended on its
  // own, so timeout/cancel are withdrawn (output-limit stays: output was dropped either way).
  const kill = (reason: SandboxExitReason): void => {
    if (killReason !== undefined) return;
    killReason = reason;
    if (!started) return;
    killing = withEngineDeadline(engine, 'killing the container', deadlines.killMs, (signal) =>
      container.kill({ abortSignal: signal }),
    ).then(
      () => {
        // Killed: its exit must be reported soon, or the engine is not really answering. A stop
        // (cancel, shutdown) waits briefly; a timeout's or output cap's outcome is worth the full
        // allowance on a slow engine, rather than being thrown away as a fault.
        const confirmMs = reason === 'cancelled' ? deadlines.killMs : deadlines.callMs;
        confirmTimer = setTimeout(
          () => giveUp(engineTimeout(engine, 'reporting the exit of a killed container', confirmMs)),
          confirmMs,
        );
      },
      (error: unknown) => {
        if (isEngineFault(error)) giveUp(error);
        else if (dockerStatusCode(error) === 409 && reason !== 'output-limit') killReason = undefined;
      },
    );
  };

  // Attach before start so not one byte of output is missed (a warm container was attached so).
  const stream =
    wrapper.warm?.stream ??
    ((await withEngineDeadline(engine, 'attaching to the container', deadlines.callMs, (signal) =>
      container.attach({
        stream: true,
        stdout: true,
        stderr: true,
        stdin: hasStdin,
        hijack: hasStdin,
        abortSignal: signal,
      }),
    ).catch((error: unknown) => {
      throw toSandboxError(error, 'attaching to the container', engine);
    })) as Duplex);
  const drained = new Promise<void>((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    // A write to a container that already exited fails with EPIPE; the output read so far stands.
    stream.on('error', () => resolve());
  });
  // A warm container's wrapper acknowledges the job before running it; its receipt is not output.
  const receipt = wrapper.warm ? createReceiptReader() : undefined;
  const onChunk = (chunk: Buffer) => {
    const passed = receipt ? receipt.push(chunk) : chunk;
    if (passed.length > 0 && capture.push(passed)) kill('output-limit');
  };
  const early = wrapper.warm?.handOver();
  stream.on('data', onChunk);
  if (early && early.length > 0) onChunk(early);

  const onAbort = (): void => kill('cancelled');
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) onAbort();
  let timer: NodeJS.Timeout | undefined;
  try {
    if (killReason === 'cancelled') {
      // Cancelled before it started: never run the job at all.
      const now = new Date();
      return { ...emptyOutcome(now, imageId), reason: 'cancelled', path: wrapper.warm ? 'warm' : 'cold' };
    }
    // A warm container runs already: its wrapper waits for the job on stdin.
    if (!wrapper.warm)
      await withEngineDeadline(engine, 'starting the container', deadlines.callMs, (signal) =>
        container.start({ abortSignal: signal }),
      ).catch((error: unknown) => {
        throw toSandboxError(error, 'starting the container', engine);
      });
    const startedAt = new Date();
    const startedClock = performance.now();
    started = true;
    timer = setTimeout(() => kill('timeout'), spec.timeoutMs);
    sampler = startPeakMemorySampler(container);
    // An abort that landed while start() was in flight.
    if (killReason !== undefined) {
      const pending = killReason;
      killReason = undefined;
      kill(pending);
    }

    if (stdin !== undefined) {
      // Write everything, then half-close: with StdinOnce the engine closes the job's stdin on EOF.
      stream.end(stdin);
    }
    if (wrapper.collects) {
      collection = collectOut(container, {
        jobUser: policy.user,
        maxBytes: limits.outputsTmpfsBytes + archiveOverheadBytes,
        engine,
        callMs: deadlines.callMs,
        signal: runOver.signal,
      }).then((collected) => {
        // /out is read (or cannot be): the waiting wrapper may now exit with the job's status.
        // An archive past its cap ends the container the same way, at once. Repeated: a wrapper
        // still running the job has no trap yet and ignores it (the job wrote the file early).
        const releaseNow = () => {
          if (killReason === undefined) void releaseWrapper(container, deadlines, giveUp);
        };
        releaseNow();
        release = setInterval(releaseNow, releaseRepeatMs);
        release.unref();
        return collected;
      });
    }

    // Bounded by the job's own timeout plus the engine's allowance: an engine that stopped answering
    // (SIGSTOPped, wedged) cannot report the exit, and must not hold the attempt forever.
    const waitMs = spec.timeoutMs + deadlines.callMs;
    watch = watchContainer(container, deadlines, giveUp);
    const waited = (await Promise.race([
      withEngineDeadline(engine, 'waiting for the container to exit', waitMs, (signal) =>
        container.wait({ abortSignal: signal }),
      ),
      givenUp,
    ]).catch((error: unknown) => {
      throw toSandboxError(error, 'waiting for the container to exit', engine);
    })) as { StatusCode?: number };
    // The container stopped: a collector that has not read /out by now never will.
    runOver.abort();
    const durationMs = Math.round(performance.now() - startedClock);
    const finishedAt = new Date(startedAt.getTime() + durationMs);
    clearTimeout(timer);
    await killing;
    const drainedInTime = await Promise.race([
      drained.then(() => true),
      delay(drainTimeoutMs).then(() => false),
    ]);
    // Its whole stream read and no receipt in it: the container ended before the job reached it.
    if (receipt && !receipt.received && drainedInTime && killReason === undefined)
      throw new NeverHandedIn('the warm container ended before it read the job');

    // Only the engine knows whether the kernel's OOM killer ended the job.
    const inspectFinished = () =>
      withEngineDeadline(engine, 'inspecting the finished container', deadlines.callMs, (signal) =>
        container.inspect({ abortSignal: signal }),
      ).then(
        (info) => ({ ...info.State, runtime: info.HostConfig.Runtime }),
        (error: unknown) => {
          throw toSandboxError(error, 'inspecting the finished container', engine);
        },
      );
    let state = await inspectFinished();
    // A job SIGKILLed by nobody we know of: the engine may learn of the OOM kill a while after
    // the exit (two events, in either order, on a loaded host), so it is asked again a few times.
    for (const waitMs of oomReportWaitsMs) {
      if (killReason !== undefined || state.OOMKilled || state.ExitCode !== 137) break;
      await delay(waitMs);
      state = await inspectFinished().catch(() => state);
    }
    const exitCode = typeof state.ExitCode === 'number' ? state.ExitCode : (waited.StatusCode ?? null);
    const peakMemoryBytes = sampler.stop();
    // Under runsc on a loaded host the engine was seen never to report a memory hog's OOM kill
    // (exit 137, OOMKilled false, still so 1.75 s later). A SIGKILL nobody we know of sent, after
    // the container's memory reached its limit, is taken for the OOM kill it is.
    const killedAtMemoryLimit =
      killReason === undefined &&
      state.ExitCode === 137 &&
      peakMemoryBytes !== undefined &&
      peakMemoryBytes >= spec.limits.memoryBytes * oomPeakShare;
    const oomKilled = state.OOMKilled === true || killedAtMemoryLimit;
    const reason: SandboxExitReason = killReason ?? (oomKilled ? 'oom' : 'exited');
    capture.finish();
    const output = capture.result();
    const outputs = collection
      ? await readOutputs(
          // The container is gone, so the collector's stream ends at once; an engine that keeps it
          // open holds the attempt no longer than one engine call.
          await Promise.race([
            collection,
            givenUp,
            delay(deadlines.callMs).then(
              (): OutCollection => ({ status: 'failed', detail: 'the collector of /out never finished' }),
            ),
          ]),
          spec.outputs ?? [],
          limits,
          killReason,
        )
      : undefined;
    batcher?.end(capture.exceeded);
    return {
      reason,
      exitCode,
      stdout: output.stdout,
      stderr: output.stderr,
      outputTruncated: output.truncated,
      startedAt,
      finishedAt,
      durationMs,
      imageId,
      path: wrapper.warm ? 'warm' : 'cold',
      oom: oomKilled,
      ...(state.runtime ? { runtime: state.runtime } : {}),
      ...(peakMemoryBytes === undefined ? {} : { peakMemoryBytes }),
      ...(outputs === undefined ? {} : { outputs }),
    };
  } finally {
    runOver.abort();
    clearInterval(release);
    clearTimeout(timer);
    clearTimeout(confirmTimer);
    clearInterval(watch);
    sampler?.stop();
    batcher?.end(capture.exceeded);
    signal?.removeEventListener('abort', onAbort);
    stream.destroy();
  }
}

/** The wait's watchdog (see watchIntervalMs); cleared by the caller once the wait returned. */
function watchContainer(
  container: Docker.Container,
  deadlines: EngineDeadlines,
  giveUp: (error: Error) => void,
): NodeJS.Timeout {
  let stoppedSeen = 0;
  let checking = false;
  const timer = setInterval(() => {
    if (checking) return;
    checking = true;
    withEngineDeadline(deadlines.engine, 'checking on a running container', deadlines.callMs, (signal) =>
      container.inspect({ abortSignal: signal }),
    )
      .then(
        (info) => {
          stoppedSeen = info.State.Running ? 0 : stoppedSeen + 1;
          if (stoppedSeen >= 3)
            giveUp(engineLostRun(deadlines.engine, 'the container stopped but its exit was never reported'));
        },
        (error: unknown) => {
          // Unreachable: the engine is gone and the wait will never return. A slow answer is left
          // to the wait's own deadline (a stopped engine may yet resume and report the exit).
          if (isEngineFault(error) && !isEngineTimeout(error)) giveUp(error);
          else if (dockerStatusCode(error) === 404)
            giveUp(engineLostRun(deadlines.engine, 'the container is gone'));
        },
      )
      .finally(() => {
        checking = false;
      });
  }, watchIntervalMs);
  timer.unref();
  return timer;
}

/**
 * Sends the waiting wrapper SIGTERM (its trap exits with the job's status). A container already
 * stopped is fine; an engine that does not answer ends the run as an engine fault.
 */
async function releaseWrapper(
  container: Docker.Container,
  deadlines: EngineDeadlines,
  giveUp: (error: Error) => void,
): Promise<void> {
  await withEngineDeadline(
    deadlines.engine,
    'ending the container after reading /out',
    deadlines.killMs,
    (signal) => container.kill({ signal: 'SIGTERM', abortSignal: signal }),
  ).catch((error: unknown) => {
    if (isEngineFault(error)) giveUp(error);
  });
}

/** The declared outputs from the archive of /out, or why there are none. */
async function readOutputs(
  collection: OutCollection,
  patterns: readonly string[],
  limits: { readonly artifactMaxBytes: number; readonly artifactMaxCount: number },
  killReason: SandboxExitReason | undefined,
): Promise<CollectedOutputs> {
  const unreadable = (detail: string): CollectedOutputs => ({
    files: [],
    refused: [{ path: '/out', reason: 'unreadable', detail }],
  });
  if (collection.status === 'collected') {
    return collectOutputs(collection.archive, patterns, {
      maxBytes: limits.artifactMaxBytes,
      maxCount: limits.artifactMaxCount,
    });
  }
  if (collection.status === 'overflowed')
    return unreadable(
      `the archive of /out was larger than the /out tmpfs allows (${collection.maxBytes} bytes; sparse files count at their full size)`,
    );
  if (killReason !== undefined)
    return unreadable(`the attempt was stopped (${killReason}) before /out was collected`);
  return unreadable(collection.detail);
}

function emptyOutcome(now: Date, imageId: string): Omit<SandboxResult, 'reason'> {
  return {
    exitCode: null,
    stdout: '',
    stderr: '',
    outputTruncated: false,
    startedAt: now,
    finishedAt: now,
    durationMs: 0,
    imageId,
  };
}

/**
 * Removes the attempt's container. Two tries: a removal can collide with the engine still tearing
 * down a just-killed container. Whatever is left (the engine went away) is the reaper's: every
 * worker also reaps its own leftovers, periodically and as soon as the engine answers again.
 */
async function removeContainer(
  container: Docker.Container,
  deadlines: EngineDeadlines,
  onCleanupError: DockerSandboxDeps['onCleanupError'],
): Promise<void> {
  for (let attempt = 1; attempt <= 2; attempt += 1) {
    try {
      await withEngineDeadline(deadlines.engine, 'removing the container', deadlines.callMs, (signal) =>
        container.remove({ force: true, v: true, abortSignal: signal }),
      );
      return;
    } catch (error) {
      const status = dockerStatusCode(error);
      // 404: already gone; 409 "removal already in progress": the engine finishes it.
      if (status === 404 || status === 409) return;
      // No point in a second try against an engine that does not answer.
      if (attempt === 2 || isEngineFault(error)) {
        onCleanupError?.(error, container.id);
        return;
      }
      await delay(250);
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
