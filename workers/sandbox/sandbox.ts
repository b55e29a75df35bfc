import type { ResolvedJobSpec } from '../../schemas/job-spec.schema.ts';
import type { CollectedOutputs } from './output-files.ts';

/** Why a sandbox run ended; every value maps to a distinct recorded outcome. */
export type SandboxExitReason = 'exited' | 'timeout' | 'oom' | 'output-limit' | 'cancelled';

export interface SandboxResult {
  readonly reason: SandboxExitReason;
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** True when output past the byte cap was dropped. */
  readonly outputTruncated: boolean;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly durationMs: number;
  /** The image id (sha256:...) that actually ran. */
  readonly imageId: string;
  /** Highest memory use the engine sampled while it ran; absent when it ended before the first sample. */
  readonly peakMemoryBytes?: number;
  /** What was collected from /out; present whenever the spec declares outputs. */
  readonly outputs?: CollectedOutputs;
  /** The OCI runtime the container ran under, as the engine reports it (runc, runsc, crun). */
  readonly runtime?: string;
  /** Whether the attempt ran in a container started ahead (warm) or one started for it (cold). */
  readonly path?: SandboxPath;
  /** The engine says the kernel's OOM killer struck in the container (also when `reason` is another). */
  readonly oom?: boolean;
}

/** How an attempt got its container: started ahead in a warm pool, or created and started for it. */
export type SandboxPath = 'warm' | 'cold';

/** An uploaded input's bytes, fetched and checked against its recorded hash by the caller. */
export interface SandboxInput {
  /** Absolute path under /tmp. */
  readonly path: string;
  readonly content: Buffer;
}

/** A piece of live output: consecutive bytes of one stream, decoded, in the order the job wrote them. */
export interface SandboxOutputChunk {
  readonly stream: 'stdout' | 'stderr';
  readonly text: string;
}

/** What `prepare` found: the exact image a run of this spec will use. */
export interface PreparedImage {
  readonly imageId: string;
}

/** Identifies one attempt; written as container labels so a reaper can find orphans. */
export interface SandboxRunLabels {
  readonly jobId: string;
  readonly attempt: number;
  readonly workerId: string;
}

export interface SandboxRunRequest {
  readonly spec: ResolvedJobSpec;
  readonly labels: SandboxRunLabels;
  /** The bytes of `spec.inputs`, in the same order; placed read-only before the command starts. */
  readonly inputs?: readonly SandboxInput[];
  /**
   * Secret values the job was given: masked in stdout, stderr and live output before the output
   * cap counts a byte, so the cap never keeps the start of one.
   */
  readonly secretValues?: readonly string[];
  /** Aborting kills the container; the result's reason is then 'cancelled'. */
  readonly signal?: AbortSignal;
  /** From `prepare`: run exactly this image (the one recorded on JobStarted). Absent: resolved here. */
  readonly imageId?: string;
  /**
   * Live output, batched (by size and time) and in order; only bytes within the output cap are
   * passed on. Called synchronously from the stream: it must not throw or block.
   */
  readonly onOutput?: (chunk: SandboxOutputChunk) => void;
}

/** A container runtime behind one call, so another runtime can be added without touching the worker. */
export interface Sandbox {
  /** Cheap check before an attempt is recorded as started: the image is allowed and present; its id. */
  prepare(spec: Pick<ResolvedJobSpec, 'image'>): Promise<PreparedImage>;
  run(request: SandboxRunRequest): Promise<SandboxResult>;
  /** Releases what the sandbox holds ahead of need (a warm pool's containers); absent: nothing. */
  close?(): Promise<void>;
}

/** A failure of the sandbox itself (image missing, daemon down), as opposed to the job failing. */
export class SandboxError extends Error {
  readonly code:
    | 'image-missing'
    | 'image-not-allowed'
    | 'image-digest-mismatch'
    | 'daemon-unavailable'
    | 'sandbox-failure';
  constructor(code: SandboxError['code'], message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SandboxError';
    this.code = code;
  }
}
