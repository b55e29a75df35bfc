import { z } from 'zod';
import { webhookDeliveryEventSchemas } from './webhook-events.schema.ts';

/** Why an attempt failed; each one is a distinct outcome an operator can filter on. */
export const failureReasonSchema = z.enum([
  'exit-code',
  'timeout',
  'oom',
  'output-limit',
  'sandbox-error',
  // The engine lacks the allowlisted image (and pulls are off or failed), or holds another image
  // under its pinned name: the operator must build, pull or re-pin it.
  'image-missing',
  'image-digest-mismatch',
]);
export type FailureReason = z.infer<typeof failureReasonSchema>;

/** Failures another attempt cannot mend: nothing about the job changes until the operator acts. */
export const permanentFailureReasonSchema = failureReasonSchema.extract([
  'image-missing',
  'image-digest-mismatch',
]);
const permanentFailureReasons: ReadonlySet<string> = new Set(permanentFailureReasonSchema.options);
export const isPermanentFailure = (
  reason: FailureReason,
): reason is z.infer<typeof permanentFailureReasonSchema> => permanentFailureReasons.has(reason);

/** Why an attempt may be retried: a failure another attempt could mend, or its worker vanished or shut down. */
export const retryReasonSchema = z.enum([
  ...failureReasonSchema.exclude(permanentFailureReasonSchema.options).options,
  'abandoned',
]);
export type RetryReason = z.infer<typeof retryReasonSchema>;

/** A resolved retry policy: every field concrete, clamped to the operator's maxima. */
export const retryPolicySchema = z.object({
  maxAttempts: z.number().int().positive(),
  backoff: z.object({
    initialMs: z.number().int().nonnegative(),
    multiplier: z.number().positive(),
    maxMs: z.number().int().nonnegative(),
    jitter: z.number().min(0).max(1),
  }),
  on: z.array(retryReasonSchema),
});

/**
 * A spec after the operator's defaults and maxima were applied (`ResolvedJobSpec`, inferred from
 * this): what `JobSubmitted` carries.
 */
export const resolvedSpecSchema = z.object({
  image: z.string(),
  command: z.array(z.string()),
  env: z.record(z.string(), z.string()),
  // Environment variable → secret name; values never travel through events.
  secrets: z.record(z.string(), z.string()).optional(),
  stdin: z.string().optional(),
  // Written under /tmp before the command starts.
  files: z
    .array(z.object({ path: z.string(), content: z.string(), mode: z.number().int().optional() }))
    .optional(),
  // Uploaded files placed under /tmp before the command starts; the hash pins the exact bytes.
  inputs: z
    .array(z.object({ file: z.string(), path: z.string(), sha256: z.string(), size: z.number().int() }))
    .optional(),
  // Patterns under /out collected as artifacts after the job exits.
  outputs: z.array(z.string()).optional(),
  // Directories besides /tmp that files and inputs are placed in, and where the command starts;
  // absent on jobs that named none (or were submitted before either existed): /tmp.
  inputDirectories: z.array(z.string()).optional(),
  workingDir: z.string().optional(),
  timeoutMs: z.number().int(),
  limits: z.object({ memoryBytes: z.number().int(), cpus: z.number(), pids: z.number().int() }),
  // Absent on jobs submitted before retries, priorities and queue deadlines existed (those never
  // retry; priority 0..100, higher first, absent meaning 50).
  retry: retryPolicySchema.optional(),
  priority: z.number().int().optional(),
  queueTimeoutMs: z.number().int().optional(),
  // Key → value, for finding jobs again; absent on jobs submitted without any (or before labels).
  labels: z.record(z.string(), z.string()).optional(),
  // Where the job's end is POSTed (signed); absent on jobs submitted without one (or before callbacks).
  callback: z.object({ url: z.string() }).optional(),
  // The schedule and slot that submitted the job; absent on jobs a client submitted itself.
  schedule: z.object({ id: z.uuid(), slot: z.iso.datetime() }).optional(),
});

const runOutputSchema = z.object({
  attempt: z.number().int().positive(),
  exitCode: z.number().int().nullable(),
  stdout: z.string(),
  stderr: z.string(),
  outputTruncated: z.boolean(),
  durationMs: z.number().nonnegative(),
  // Highest memory use the engine sampled (cgroup v1 max_usage); absent when the run ended before a sample.
  peakMemoryBytes: z.number().int().nonnegative().optional(),
  // Provenance; absent on attempts recorded before it was: the OCI runtime the engine ran the
  // container under (runc, runsc, crun), and whether the container was started ahead for any job
  // (warm) or for this one (cold).
  runtime: z.string().max(64).optional(),
  sandboxPath: z.enum(['warm', 'cold']).optional(),
  // The kernel's OOM killer struck in the container, whatever the reason says (a timeout may
  // have come first).
  oom: z.boolean().optional(),
});

/** Why a file under /out was not kept; each is recorded, none is followed or read further. */
export const refusedOutputReasonSchema = z.enum([
  'too-large',
  'too-many',
  'symlink',
  'not-a-regular-file',
  'missing',
  'unreadable',
]);
export type RefusedOutputReason = z.infer<typeof refusedOutputReasonSchema>;

/** Where a chunk of live output came from. */
export const outputStreamSchema = z.enum(['stdout', 'stderr']);
export type OutputStream = z.infer<typeof outputStreamSchema>;

/**
 * Every job event with its current schema version. Events read back from storage are parsed with
 * these (a trust boundary: the database may hold what an older release wrote).
 */
export const jobEventSchemas = {
  // runAt: not before (delayed jobs); expiresAt: the queue-wait deadline of the first attempt.
  JobSubmitted: {
    version: 1,
    data: z.object({
      spec: resolvedSpecSchema,
      runAt: z.iso.datetime().optional(),
      expiresAt: z.iso.datetime().optional(),
    }),
  },
  JobStarted: {
    version: 1,
    data: z.object({
      attempt: z.number().int().positive(),
      workerId: z.string(),
      imageId: z.string().optional(),
    }),
  },
  // Live output while an attempt runs, in order: `seq` counts from 0 per attempt; secrets are masked.
  JobOutput: {
    version: 1,
    data: z.object({
      attempt: z.number().int().positive(),
      seq: z.number().int().nonnegative(),
      stream: outputStreamSchema,
      text: z.string(),
    }),
  },
  // A declared output collected from /out and stored: its hash keeps the history true after deletion.
  ArtifactStored: {
    version: 1,
    data: z.object({
      attempt: z.number().int().positive(),
      fileId: z.uuid(),
      path: z.string(),
      size: z.number().int().nonnegative(),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      contentType: z.string(),
    }),
  },
  // A file under /out that matched a declared output but was not kept, and why.
  ArtifactRefused: {
    version: 1,
    data: z.object({
      attempt: z.number().int().positive(),
      path: z.string(),
      reason: refusedOutputReasonSchema,
      detail: z.string().optional(),
    }),
  },
  JobSucceeded: { version: 1, data: runOutputSchema },
  JobFailed: {
    version: 1,
    data: runOutputSchema.extend({ reason: failureReasonSchema, message: z.string().optional() }),
  },
  // The next attempt is due at dueAt: after a retryable failure (reason says which), an operator's
  // re-run, or `infrastructure`: the Docker engine failed the run, so the same attempt (same number)
  // runs again at no cost to the retry policy (the comment says what failed).
  JobRetryScheduled: {
    version: 1,
    data: z.object({
      attempt: z.number().int().positive(),
      dueAt: z.iso.datetime(),
      reason: z.union([retryReasonSchema, z.literal('operator'), z.literal('infrastructure')]),
      expiresAt: z.iso.datetime().optional(),
      requestedBy: z.string().optional(),
      comment: z.string().optional(),
    }),
  },
  // A started attempt whose worker died (lease expired) or shut down before it finished.
  JobAttemptAbandoned: {
    version: 1,
    data: z.object({
      attempt: z.number().int().positive(),
      workerId: z.string(),
      reason: z.enum(['worker-lost', 'shutdown']),
    }),
  },
  JobCancelled: {
    version: 1,
    data: z.object({
      attempt: z.number().int().positive(),
      wasRunning: z.boolean(),
      reason: z.string().optional(),
    }),
  },
  // The attempt waited in the queue past its deadline and never started.
  JobExpired: {
    version: 1,
    data: z.object({ attempt: z.number().int().positive(), expiresAt: z.iso.datetime() }),
  },
  // Each attempt to tell a webhook the job ended: on the job's stream, so its timeline shows them.
  ...webhookDeliveryEventSchemas,
} as const;

export type JobEventType = keyof typeof jobEventSchemas;

/** A job event as the domain sees it: a discriminated union on `type`. */
export type JobEvent = {
  [Type in JobEventType]: {
    readonly type: Type;
    readonly data: z.infer<(typeof jobEventSchemas)[Type]['data']>;
  };
}[JobEventType];

export const jobEventTypes = Object.keys(jobEventSchemas) as JobEventType[];
