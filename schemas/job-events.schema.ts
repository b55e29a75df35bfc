import { z } from 'zod';

const resolvedSpecSchema = z.object({
  image: z.string(),
  command: z.array(z.string()),
  env: z.record(z.string(), z.string()),
  secrets: z.record(z.string(), z.string()).optional(),
  stdin: z.string().optional(),
  timeoutMs: z.number().int(),
  limits: z.object({ memoryBytes: z.number().int(), cpus: z.number(), pids: z.number().int() }),
});

/** Why an attempt failed; each one is a distinct outcome an operator can filter on. */
export const failureReasonSchema = z.enum(['exit-code', 'timeout', 'oom', 'output-limit', 'sandbox-error']);
export type FailureReason = z.infer<typeof failureReasonSchema>;

const runOutputSchema = z.object({
  attempt: z.number().int().positive(),
  exitCode: z.number().int().nullable(),
  stdout: z.string(),
  stderr: z.string(),
  outputTruncated: z.boolean(),
  durationMs: z.number().nonnegative(),
});

/**
 * Every job event with its current schema version. Events read back from storage are parsed with
 * these (a trust boundary: the database may hold what an older release wrote).
 */
export const jobEventSchemas = {
  JobSubmitted: { version: 1, data: z.object({ spec: resolvedSpecSchema }) },
  JobStarted: {
    version: 1,
    data: z.object({ attempt: z.number().int().positive(), workerId: z.string(), imageId: z.string().optional() }),
  },
  JobSucceeded: { version: 1, data: runOutputSchema },
  JobFailed: {
    version: 1,
    data: runOutputSchema.extend({ reason: failureReasonSchema, message: z.string().optional() }),
  },
} as const;

export type JobEventType = keyof typeof jobEventSchemas;

/** A job event as the domain sees it: a discriminated union on `type`. */
export type JobEvent = {
  [Type in JobEventType]: { readonly type: Type; readonly data: z.infer<(typeof jobEventSchemas)[Type]['data']> };
}[JobEventType];

export const jobEventTypes = Object.keys(jobEventSchemas) as JobEventType[];
