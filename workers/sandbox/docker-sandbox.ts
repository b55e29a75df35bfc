import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { defaultFileLimits, type SandboxPolicy } from '../../schemas/config.schema.ts';
import { buildContainerOptions } from './container-options.ts';
import { dockerStatusCode, toSandboxError } from './docker-errors.ts';
import { findAllowedImage } from './image-allowlist.ts';
import { resolveAllowedImage } from './image-resolver.ts';
import { buildInputArchive } from './input-archive.ts';
import { needsWrapper, stdinPath } from './job-wrapper.ts';
import { createOutputBatcher, defaultBatching, type OutputBatcherOptions } from './output-batcher.ts';
import { createOutputCapture } from './output-capture.ts';
import { type CollectedOutputs, collectOutputs } from './output-files.ts';
import { startPeakMemorySampler } from './peak-memory.ts';
import type { Sandbox, SandboxExitReason, SandboxResult, SandboxRunRequest } from './sandbox.ts';
import { SandboxError } from './sandbox.ts';
import { createTrailerSplitter, type TrailerSplitter } from './trailer-splitter.ts';

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

/** Room for tar's headers on top of the /out tmpfs's size. */
const trailerOverheadBytes = 1024 * 1024;

/**
 * What the wrapper reads on stdin: the marker line, then a tar of the inline files, the uploaded
 * inputs (read-only) and the job's own stdin. Undefined for a job that runs without the wrapper.
 */
async function wrapperStdin(request: SandboxRunRequest, marker: string): Promise<Buffer | undefined> {
  const { spec } = request;
  if (!needsWrapper(spec)) return undefined;
  const inputs = request.inputs ?? [];
  if (inputs.length !== (spec.inputs?.length ?? 0)) {
    throw new SandboxError('sandbox-failure', "the bytes of the job's input files were not supplied");
  }
  const archive = await buildInputArchive([
    ...(spec.files ?? []).map((file) => ({
      path: file.path,
      content: Buffer.from(file.content, 'utf8'),
      mode: file.mode ?? 0o644,
    })),
    // Read-only to the job: it owns them, so this guards against slips, not against the job itself.
    ...inputs.map((input) => ({ path: input.path, content: input.content, mode: 0o444 })),
    ...(spec.stdin === undefined
      ? []
      : [{ path: stdinPath, content: Buffer.from(spec.stdin, 'utf8'), mode: 0o400 }]),
  ]);
  return Buffer.concat([Buffer.from(`${marker}\n`), archive]);
}

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

  // A marker the job cannot predict, so no output of its own is ever mistaken for the trailer.
  const marker =
    (request.spec.outputs?.length ?? 0) > 0 ? `omni-outputs-${randomBytes(16).toString('hex')}` : '';
  const stdin = await wrapperStdin(request, marker);

  let container: Docker.Container | undefined;
  try {
    container = await docker.createContainer(options).catch((error: unknown) => {
      throw toSandboxError(error, 'creating the container');
    });
    return await supervise(container, request, policy, imageId, deps.batching ?? defaultBatching, {
      marker,
      ...(stdin === undefined ? {} : { stdin }),
    });
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
  wrapper: { readonly marker: string; readonly stdin?: Buffer },
): Promise<SandboxResult> {
  const { spec, signal, onOutput } = request;
  const limits = policy.files ?? defaultFileLimits;
  const stdin = wrapper.stdin ?? (spec.stdin === undefined ? undefined : Buffer.from(spec.stdin, 'utf8'));
  const hasStdin = stdin !== undefined;
  const batcher = onOutput ? createOutputBatcher({ ...batching, emit: onOutput }) : undefined;
  const splitter =
    wrapper.marker === ''
      ? undefined
      : createTrailerSplitter(Buffer.from(wrapper.marker), limits.outputsTmpfsBytes + trailerOverheadBytes);
  const capture = createOutputCapture(
    policy.outputLimitBytes,
    batcher
      ? (streamType, payload) => batcher.push(streamType === 1 ? 'stdout' : 'stderr', payload)
      : undefined,
    splitter,
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

    if (stdin !== undefined) {
      // Write everything, then half-close: with StdinOnce the engine closes the job's stdin on EOF.
      stream.end(stdin);
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
    capture.finish();
    const output = capture.result();
    const outputs = splitter
      ? await readOutputs(splitter, spec.outputs ?? [], limits, killReason)
      : undefined;
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
      ...(outputs === undefined ? {} : { outputs }),
    };
  } finally {
    clearTimeout(timer);
    sampler?.stop();
    batcher?.end(capture.exceeded);
    signal?.removeEventListener('abort', onAbort);
    stream.destroy();
  }
}

/** The declared outputs from the trailer, or why there are none. */
async function readOutputs(
  splitter: TrailerSplitter,
  patterns: readonly string[],
  limits: { readonly artifactMaxBytes: number; readonly artifactMaxCount: number },
  killReason: SandboxExitReason | undefined,
): Promise<CollectedOutputs> {
  const unreadable = (detail: string): CollectedOutputs => ({
    files: [],
    refused: [{ path: '/out', reason: 'unreadable', detail }],
  });
  const trailer = splitter.trailer();
  if (trailer !== undefined) {
    return collectOutputs(trailer, patterns, {
      maxBytes: limits.artifactMaxBytes,
      maxCount: limits.artifactMaxCount,
    });
  }
  if (splitter.overflowed) return unreadable('the archive of /out was larger than the /out tmpfs allows');
  if (killReason !== undefined)
    return unreadable(`the attempt was stopped (${killReason}) before /out was collected`);
  return unreadable('the container ended before /out was collected');
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
