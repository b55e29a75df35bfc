import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import type { SandboxPolicy } from '../../schemas/config.schema.ts';
import { buildContainerOptions } from './container-options.ts';
import { dockerStatusCode, toSandboxError } from './docker-errors.ts';
import { findAllowedImage } from './image-allowlist.ts';
import { resolveAllowedImage } from './image-resolver.ts';
import { createOutputBatcher, defaultBatching, type OutputBatcherOptions } from './output-batcher.ts';
import { createOutputCapture } from './output-capture.ts';
import { startPeakMemorySampler } from './peak-memory.ts';
import type { Sandbox, SandboxExitReason, SandboxResult, SandboxRunRequest } from './sandbox.ts';
import { SandboxError } from './sandbox.ts';

export interface DockerSandboxDeps {
  readonly docker: Docker;
  readonly policy: SandboxPolicy;
  /** Extra container labels (tests tag their containers to find and remove them). */
  readonly extraLabels?: Readonly<Record<string, string>>;
  /** Told when a container could not be removed; the reaper removes it later. Default: ignore. */
  readonly onCleanupError?: (error: unknown, containerId: string) => void;
  /** How live output is batched; default 16 KiB / 250 ms. */
  readonly batching?: Pick<OutputBatcherOptions, 'maxBytes' | 'maxDelayMs'>;
}

/** How long to wait for the attach stream to deliver its last bytes after the container exited. */
const drainTimeoutMs = 2_000;

/**
 * A Sandbox running each attempt in a fresh hardened Docker container that is always removed.
 * Throws SandboxError for failures of the sandbox itself; a failing job is a result, not an error.
 */
export function createDockerSandbox(deps: DockerSandboxDeps): Sandbox {
  return {
    prepare: (spec) => resolveAllowedImage(deps.docker, deps.policy, spec.image),
    run: (request) => runAttempt(deps, request),
  };
}

async function runAttempt(deps: DockerSandboxDeps, request: SandboxRunRequest): Promise<SandboxResult> {
  const { docker, policy } = deps;
  const { image } = request.spec;
  // Checked again even with a prepared id: the allowlist is the last word on what runs.
  if (!findAllowedImage(policy.allowedImages, image)) {
    throw new SandboxError('image-not-allowed', `image ${image} is not on the sandbox allowlist`);
  }
  const imageId = request.imageId ?? (await resolveAllowedImage(docker, policy, image)).imageId;
  const options = buildContainerOptions(request, policy, {
    imageId,
    ...(deps.extraLabels ? { extraLabels: deps.extraLabels } : {}),
  });

  let container: Docker.Container | undefined;
  try {
    container = await docker.createContainer(options).catch((error: unknown) => {
      throw toSandboxError(error, 'creating the container');
    });
    return await supervise(container, request, policy, imageId, deps.batching ?? defaultBatching);
  } finally {
    if (container) await removeContainer(container, deps.onCleanupError);
  }
}

async function supervise(
  container: Docker.Container,
  request: SandboxRunRequest,
  policy: SandboxPolicy,
  imageId: string,
  batching: Pick<OutputBatcherOptions, 'maxBytes' | 'maxDelayMs'>,
): Promise<SandboxResult> {
  const { spec, signal, onOutput } = request;
  const hasStdin = spec.stdin !== undefined;
  const batcher = onOutput ? createOutputBatcher({ ...batching, emit: onOutput }) : undefined;
  const capture = createOutputCapture(
    policy.outputLimitBytes,
    batcher
      ? (streamType, payload) => batcher.push(streamType === 1 ? 'stdout' : 'stderr', payload)
      : undefined,
  );
  let sampler: ReturnType<typeof startPeakMemorySampler> | undefined;
  let started = false;
  let killReason: SandboxExitReason | undefined;
  let killing: Promise<void> = Promise.resolve();

  // First reason wins; a kill that finds the container already stopped means the job ended on its
  // own, so timeout/cancel are withdrawn (output-limit stays: output was dropped either way).
  const kill = (reason: SandboxExitReason): void => {
    if (killReason !== undefined) return;
    killReason = reason;
    if (!started) return;
    killing = container.kill().then(
      () => undefined,
      (error: unknown) => {
        if (dockerStatusCode(error) === 409 && reason !== 'output-limit') killReason = undefined;
      },
    );
  };

  // Attach before start so not one byte of output is missed.
  const stream = (await container
    .attach({ stream: true, stdout: true, stderr: true, stdin: hasStdin, hijack: hasStdin })
    .catch((error: unknown) => {
      throw toSandboxError(error, 'attaching to the container');
    })) as Duplex;
  const drained = new Promise<void>((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    // A write to a container that already exited fails with EPIPE; the output read so far stands.
    stream.on('error', () => resolve());
  });
  stream.on('data', (chunk: Buffer) => {
    if (capture.push(chunk)) kill('output-limit');
  });

  const onAbort = (): void => kill('cancelled');
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) onAbort();
  let timer: NodeJS.Timeout | undefined;
  try {
    if (killReason === 'cancelled') {
      // Cancelled before it started: never run the job at all.
      const now = new Date();
      return { ...emptyOutcome(now, imageId), reason: 'cancelled' };
    }
    await container.start().catch((error: unknown) => {
      throw toSandboxError(error, 'starting the container');
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

    if (hasStdin) {
      // Write everything, then half-close: with StdinOnce the engine closes the job's stdin on EOF.
      stream.end(spec.stdin);
    }

    const waited = (await container.wait().catch((error: unknown) => {
      throw toSandboxError(error, 'waiting for the container');
    })) as { StatusCode?: number };
    const durationMs = Math.round(performance.now() - startedClock);
    const finishedAt = new Date(startedAt.getTime() + durationMs);
    clearTimeout(timer);
    await killing;
    await Promise.race([drained, delay(drainTimeoutMs)]);

    // Only the engine knows whether the kernel's OOM killer ended the job.
    const state = await container.inspect().then(
      (info) => info.State,
      (error: unknown) => {
        throw toSandboxError(error, 'inspecting the finished container');
      },
    );
    const exitCode = typeof state.ExitCode === 'number' ? state.ExitCode : (waited.StatusCode ?? null);
    const reason: SandboxExitReason = killReason ?? (state.OOMKilled ? 'oom' : 'exited');
    const output = capture.result();
    batcher?.end(capture.exceeded);
    const peakMemoryBytes = sampler.stop();
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
      ...(peakMemoryBytes === undefined ? {} : { peakMemoryBytes }),
    };
  } finally {
    clearTimeout(timer);
    sampler?.stop();
    batcher?.end(capture.exceeded);
    signal?.removeEventListener('abort', onAbort);
    stream.destroy();
  }
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

async function removeContainer(
  container: Docker.Container,
  onCleanupError: DockerSandboxDeps['onCleanupError'],
): Promise<void> {
  // Two tries: a removal can collide with the engine still tearing down a just-killed container.
  for (let attempt = 1; attempt <= 2; attempt += 1) {
    try {
      await container.remove({ force: true, v: true });
      return;
    } catch (error) {
      const status = dockerStatusCode(error);
      // 404: already gone; 409 "removal already in progress": the engine finishes it.
      if (status === 404 || status === 409) return;
      if (attempt === 2) onCleanupError?.(error, container.id);
      else await delay(250);
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
