import type { SandboxPolicy } from '../../schemas/config.schema.ts';
import type { JobSpecInput, ResolvedJobSpec } from '../../schemas/job-spec.schema.ts';

/** Applies the operator's defaults and clamps every requested limit to its maximum. Pure. */
export function resolveJobSpec(input: JobSpecInput, policy: SandboxPolicy): ResolvedJobSpec {
  const clamp = (requested: number | undefined, fallback: number, maximum: number) =>
    Math.min(requested ?? fallback, maximum);
  return {
    image: input.image,
    command: input.command,
    env: input.env ?? {},
    ...(input.secrets === undefined ? {} : { secrets: input.secrets }),
    ...(input.stdin === undefined ? {} : { stdin: input.stdin }),
    timeoutMs: clamp(input.timeoutMs, policy.defaults.timeoutMs, policy.maxima.timeoutMs),
    limits: {
      memoryBytes: clamp(input.limits?.memoryBytes, policy.defaults.memoryBytes, policy.maxima.memoryBytes),
      cpus: clamp(input.limits?.cpus, policy.defaults.cpus, policy.maxima.cpus),
      pids: clamp(input.limits?.pids, policy.defaults.pids, policy.maxima.pids),
    },
  };
}
