import { z } from 'zod';

/** Resource limits a client may ask for; the operator's maxima clamp them before they reach a container. */
export const jobLimitsSchema = z
  .object({
    memoryBytes: z.number().int().positive().optional(),
    cpus: z.number().positive().max(64).optional(),
    pids: z.number().int().positive().optional(),
  })
  .strict();

const envNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** What a client submits: validated at the HTTP boundary, stored verbatim (after clamping) on `JobSubmitted`. */
export const jobSpecSchema = z
  .object({
    image: z.string().min(1).max(255),
    command: z.array(z.string().max(4096)).min(1).max(256),
    env: z
      .record(z.string().regex(envNamePattern, 'must be a valid environment variable name').max(128), z.string().max(4096))
      .refine((env) => Object.keys(env).length <= 64, 'at most 64 variables')
      .optional(),
    // Environment variables filled from the tenant's secrets at run time: { ENV_NAME: "secret-name" }.
    // Only names travel through events; values are decrypted by the worker.
    secrets: z
      .record(
        z.string().regex(envNamePattern, 'must be a valid environment variable name').max(128),
        z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, 'must be a secret name'),
      )
      .refine((secrets) => Object.keys(secrets).length <= 32, 'at most 32 secrets')
      .optional(),
    stdin: z.string().max(1024 * 1024).optional(),
    timeoutMs: z.number().int().positive().optional(),
    limits: jobLimitsSchema.optional(),
  })
  .strict();

export type JobSpecInput = z.infer<typeof jobSpecSchema>;
export type JobLimitsInput = z.infer<typeof jobLimitsSchema>;

/** A spec after the operator's defaults and maxima were applied: every limit is concrete. */
export interface ResolvedJobSpec {
  readonly image: string;
  readonly command: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** Environment variable → secret name. */
  readonly secrets?: Readonly<Record<string, string>>;
  readonly stdin?: string;
  readonly timeoutMs: number;
  readonly limits: ResolvedLimits;
}

export interface ResolvedLimits {
  readonly memoryBytes: number;
  readonly cpus: number;
  readonly pids: number;
}
