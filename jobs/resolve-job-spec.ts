import { defaultRetryLimits, type SandboxPolicy } from '../schemas/config.schema.ts';
import type {
  JobSpecInput,
  ResolvedInput,
  ResolvedJobSpec,
  RetryPolicy,
} from '../schemas/job-spec.schema.ts';

/** The job's retry wishes over the operator's defaults, clamped to the maxima. Pure. */
export function resolveRetryPolicy(input: JobSpecInput['retry'], policy: SandboxPolicy): RetryPolicy {
  const { defaults, maxima } = policy.retry ?? defaultRetryLimits;
  const backoff = { ...defaults.backoff, ...input?.backoff };
  return {
    maxAttempts: Math.min(input?.maxAttempts ?? defaults.maxAttempts, maxima.maxAttempts),
    backoff: {
      initialMs: Math.min(backoff.initialMs, maxima.maxDelayMs),
      multiplier: backoff.multiplier,
      maxMs: Math.min(backoff.maxMs, maxima.maxDelayMs),
      jitter: backoff.jitter,
    },
    on: [...new Set(input?.on ?? defaults.on)],
  };
}

/**
 * Applies the operator's defaults and clamps every requested limit to its maximum. Pure: uploaded
 * inputs come already resolved (their hashes and sizes looked up by the caller).
 */
export function resolveJobSpec(
  input: JobSpecInput,
  policy: SandboxPolicy,
  inputs: readonly ResolvedInput[] = [],
): ResolvedJobSpec {
  const clamp = (requested: number | undefined, fallback: number, maximum: number) =>
    Math.min(requested ?? fallback, maximum);
  return {
    image: input.image,
    command: input.command,
    env: input.env ?? {},
    ...(input.secrets === undefined ? {} : { secrets: input.secrets }),
    ...(input.files === undefined || input.files.length === 0 ? {} : { files: input.files }),
    ...(inputs.length === 0 ? {} : { inputs }),
    ...(input.outputs === undefined || input.outputs.length === 0 ? {} : { outputs: input.outputs }),
    ...(input.inputDirectories === undefined || input.inputDirectories.length === 0
      ? {}
      : { inputDirectories: input.inputDirectories }),
    ...(input.workingDir === undefined ? {} : { workingDir: input.workingDir }),
    ...(input.stdin === undefined ? {} : { stdin: input.stdin }),
    timeoutMs: clamp(input.timeoutMs, policy.defaults.timeoutMs, policy.maxima.timeoutMs),
    limits: {
      memoryBytes: clamp(input.limits?.memoryBytes, policy.defaults.memoryBytes, policy.maxima.memoryBytes),
      cpus: clamp(input.limits?.cpus, policy.defaults.cpus, policy.maxima.cpus),
      pids: clamp(input.limits?.pids, policy.defaults.pids, policy.maxima.pids),
    },
    retry: resolveRetryPolicy(input.retry, policy),
    ...(input.priority === undefined ? {} : { priority: input.priority }),
    ...(input.queueTimeoutMs === undefined ? {} : { queueTimeoutMs: input.queueTimeoutMs }),
    ...(input.labels === undefined || Object.keys(input.labels).length === 0 ? {} : { labels: input.labels }),
    ...(input.callback === undefined ? {} : { callback: { url: input.callback.url } }),
  };
}
