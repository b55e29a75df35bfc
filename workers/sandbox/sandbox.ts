import type { ResolvedJobSpec } from '../../schemas/job-spec.schema.ts';

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
  /** Aborting kills the container; the result's reason is then 'cancelled'. */
  readonly signal?: AbortSignal;
}

/** A container runtime behind one call, so another runtime can be added without touching the worker. */
export interface Sandbox {
  run(request: SandboxRunRequest): Promise<SandboxResult>;
}

/** A failure of the sandbox itself (image missing, daemon down), as opposed to the job failing. */
export class SandboxError extends Error {
  readonly code: 'image-missing' | 'image-not-allowed' | 'daemon-unavailable' | 'sandbox-failure';
  constructor(code: SandboxError['code'], message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SandboxError';
    this.code = code;
  }
}
