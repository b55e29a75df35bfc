import { z } from 'zod';
import type { Immutable } from './immutable.ts';
import { durationMsSchema, inputBounds, scheduleInstantSchema } from './input-bounds.ts';
import { type resolvedSpecSchema, type retryPolicySchema, retryReasonSchema } from './job-events.schema.ts';
import { webhookUrlSchema } from './webhook-url.schema.ts';

/** Resource limits a client may ask for; the operator's maxima clamp them before they reach a container. */
export const jobLimitsSchema = z
  .object({
    memoryBytes: z.number().int().positive().max(inputBounds.maxMemoryBytes).optional(),
    cpus: z.number().positive().max(64).optional(),
    pids: z.number().int().positive().max(inputBounds.maxPids).optional(),
  })
  .strict();

/** A client's retry wishes; missing fields take the operator's defaults, and maxima clamp them. */
export const retryPolicyInputSchema = z
  .object({
    maxAttempts: z.number().int().min(1).max(1000).optional(),
    backoff: z
      .object({
        initialMs: durationMsSchema().optional(),
        multiplier: z.number().min(1).max(100).optional(),
        maxMs: durationMsSchema().optional(),
        jitter: z.number().min(0).max(1).optional(),
      })
      .strict()
      .optional(),
    on: z.array(retryReasonSchema).max(16).optional(),
  })
  .strict();

const envNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const maxInputFiles = 32;
export const maxInputBytes = 1024 * 1024;

/** A path segment as a job may name one: letters, digits, `.`, `_` and `-`, never `.` or `..`. */
const plainSegment = '[A-Za-z0-9_][A-Za-z0-9._-]*';

/** A file's path: plain segments, at least two (a file inside a directory); where it may be is checked by `inputPlacementIssues`. */
const plainPathPattern = new RegExp(`^(/${plainSegment}){2,}$`);
const inputPathSchema = z
  .string()
  .max(255)
  .regex(
    plainPathPattern,
    'must be an absolute path of letters, digits, ., _ and -, without . or .. segments',
  );

export const maxInputDirectories = 4;

/**
 * Top-level directories a job may not mount an input directory over: the system's own (a tmpfs
 * there would hide the image's files, or shadow what the kernel mounts), and the two the sandbox
 * already provides.
 */
const reservedRoots = new Set([
  'bin',
  'boot',
  'dev',
  'etc',
  'lib',
  'lib32',
  'lib64',
  'libx32',
  'proc',
  'root',
  'run',
  'sbin',
  'sys',
  'usr',
  'var',
  'tmp',
  'out',
]);

/**
 * A directory the job's uploaded inputs and files may be placed in besides /tmp, such as `/in`,
 * `/workspace` or `/data/x`: a capped tmpfs of its own, one or two plain segments deep.
 */
export const inputDirectorySchema = z
  .string()
  .max(128)
  .regex(
    new RegExp(`^/${plainSegment}(/${plainSegment})?$`),
    'must be an absolute path of one or two segments of letters, digits, ., _ and -',
  )
  .refine((path) => !reservedRoots.has(path.split('/')[1] ?? ''), {
    message: `must not be /tmp, /out or a system directory (${[...reservedRoots].filter((root) => root !== 'tmp' && root !== 'out').join(', ')})`,
  });

/** Where the command starts: any plain absolute path (missing ones are made, read-only unless writable). */
export const workingDirectorySchema = z
  .string()
  .max(255)
  .regex(
    new RegExp(`^(/${plainSegment})+$`),
    'must be an absolute path of letters, digits, ., _ and -, without . or .. segments',
  );

const under = (path: string, directory: string) => path.startsWith(`${directory}/`);

/**
 * Where a spec's inline files and uploaded inputs may go: under /tmp or under one of its declared
 * input directories, which must not nest. Shared by every schema that takes a job spec, so a
 * schedule cannot store a spec that its slots' submissions would refuse.
 */
export function inputPlacementIssues(spec: {
  readonly files?: readonly { readonly path: string }[];
  readonly inputs?: readonly { readonly path: string }[];
  readonly inputDirectories?: readonly string[];
}): { path: (string | number)[]; message: string }[] {
  const directories = spec.inputDirectories ?? [];
  const issues: { path: (string | number)[]; message: string }[] = [];
  directories.forEach((directory, index) => {
    if (directories.some((other) => under(directory, other)))
      issues.push({
        path: ['inputDirectories', index],
        message: 'must not be inside another input directory',
      });
  });
  const allowed = ['/tmp', ...directories];
  const where = `under /tmp${directories.length > 0 ? ` or ${directories.join(', ')}` : ' (or a declared input directory)'}`;
  for (const field of ['files', 'inputs'] as const) {
    (spec[field] ?? []).forEach((entry, index) => {
      // A path that is not a plain one was refused already, once is enough.
      if (!plainPathPattern.test(entry.path)) return;
      if (!allowed.some((directory) => under(entry.path, directory)))
        issues.push({ path: [field, index, 'path'], message: `must be a path ${where}` });
    });
  }
  return issues;
}

/** An input file: a path under /tmp or an input directory (no `..`, no `.` segments), its text, an optional mode. */
export const inputFileSchema = z
  .object({
    path: inputPathSchema,
    content: z.string(),
    mode: z.number().int().min(0).max(0o777).optional(),
  })
  .strict();

export const maxInputs = 32;
export const maxOutputPatterns = 16;

/** An uploaded file (by id) placed at a path under /tmp or an input directory before the command starts, read-only. */
export const jobInputSchema = z
  .object({
    file: z.uuid(),
    path: inputPathSchema,
  })
  .strict();

/**
 * A file the job leaves under /out, collected as an artifact after it exits: a path whose segments
 * may use `*` (any characters but `/`); no `.` or `..` segments, so nothing can name a place outside.
 */
export const outputPatternSchema = z
  .string()
  .max(255)
  .regex(
    /^\/out(\/[A-Za-z0-9_*][A-Za-z0-9._*-]*)+$/,
    'must be a path under /out of letters, digits, ., _, - and *, without . or .. segments',
  );

export const maxJobLabels = 16;
/** A label's key: what `?label=key=value` filters on; `=` and `,` never appear in one. */
export const jobLabelKeySchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/,
    'must be 1-63 letters, digits, ., _, / or -, starting with a letter or digit',
  );
/** A label's value: printable text, since the console shows it and a filter names it. */
export const jobLabelValueSchema = z
  .string()
  .max(256)
  .refine(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what it refuses
    (value) => value.isWellFormed() && !/[\u0000-\u001f\u007f]/.test(value),
    'must be printable text',
  );
/** Small string map for finding jobs again (`team=data`, `batch=2026-12-02`); indexed in the read model. */
export const jobLabelsSchema = z
  .record(jobLabelKeySchema, jobLabelValueSchema)
  .refine((labels) => Object.keys(labels).length <= maxJobLabels, `at most ${maxJobLabels} labels`);

/** What a client submits: validated at the HTTP boundary, stored verbatim (after clamping) on `JobSubmitted`. */
export const jobSpecSchema = z
  .object({
    image: z.string().min(1).max(255),
    command: z.array(z.string().max(4096)).min(1).max(256),
    env: z
      .record(
        z.string().regex(envNamePattern, 'must be a valid environment variable name').max(128),
        z.string().max(4096),
      )
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
    stdin: z
      .string()
      .max(1024 * 1024)
      .optional(),
    // Small input files written under /tmp before the command starts (UTF-8 text, 1 MiB in all).
    files: z
      .array(inputFileSchema)
      .max(maxInputFiles)
      .refine(
        (files) =>
          files.reduce((total, file) => total + Buffer.byteLength(file.content, 'utf8'), 0) <= maxInputBytes,
        `at most ${maxInputBytes} bytes of input files in all`,
      )
      .refine(
        (files) => new Set(files.map((file) => file.path)).size === files.length,
        'each path at most once',
      )
      .optional(),
    // Uploaded files (POST /v1/files) placed under /tmp before the command starts.
    inputs: z
      .array(jobInputSchema)
      .max(maxInputs)
      .refine(
        (inputs) => new Set(inputs.map((input) => input.path)).size === inputs.length,
        'each path at most once',
      )
      .optional(),
    // Directories besides /tmp to place files and inputs in (each a capped tmpfs, read-only to the
    // job once filled), and where the command starts (default /tmp).
    inputDirectories: z
      .array(inputDirectorySchema)
      .max(maxInputDirectories)
      .refine(
        (directories) => new Set(directories).size === directories.length,
        'each directory at most once',
      )
      .optional(),
    workingDir: workingDirectorySchema.optional(),
    // Files collected from /out after the job exits, stored as artifacts.
    outputs: z
      .array(outputPatternSchema)
      .max(maxOutputPatterns)
      .refine((outputs) => new Set(outputs).size === outputs.length, 'each pattern at most once')
      .optional(),
    timeoutMs: z.number().int().positive().max(inputBounds.maxTimeoutMs).optional(),
    limits: jobLimitsSchema.optional(),
    retry: retryPolicyInputSchema.optional(),
    // 0 (lowest) to 100 (most urgent); default 50.
    priority: z.number().int().min(0).max(100).optional(),
    // Longest an attempt may wait in the queue before it expires instead of running.
    queueTimeoutMs: durationMsSchema({ positive: true }).optional(),
    labels: jobLabelsSchema.optional(),
    // Told when the job ends (succeeded, failed for good, cancelled, expired): a signed POST.
    callback: z.object({ url: webhookUrlSchema }).strict().optional(),
  })
  .strict();

/** POST /v1/jobs: a spec plus when it may run (runAt or delayMs) and until when it may start (expiresAt). */
export const submitJobSchema = jobSpecSchema
  .extend({
    // Bounded (see input-bounds.ts): an instant past what Postgres or the events' read schema take
    // would be stored in an event no reader could read.
    runAt: scheduleInstantSchema.optional(),
    delayMs: z.number().int().nonnegative().max(inputBounds.maxAheadMs).optional(),
    expiresAt: scheduleInstantSchema.optional(),
  })
  .strict()
  .refine((body) => body.runAt === undefined || body.delayMs === undefined, {
    message: 'give runAt or delayMs, not both',
    path: ['delayMs'],
  })
  .refine(
    (body) => {
      const filePaths = new Set((body.files ?? []).map((file) => file.path));
      return (body.inputs ?? []).every((input) => !filePaths.has(input.path));
    },
    { message: 'a path is named by both files and inputs', path: ['inputs'] },
  )
  .superRefine((body, ctx) => {
    for (const issue of inputPlacementIssues(body)) ctx.addIssue({ code: 'custom', ...issue });
  });
export type SubmitJobInput = z.infer<typeof submitJobSchema>;

/** POST /v1/jobs/:id/cancel and /retry: an optional note kept on the event. */
export const jobNoteSchema = z.object({ reason: z.string().min(1).max(1000).optional() }).strict();

export type JobSpecInput = z.infer<typeof jobSpecSchema>;
export type JobLimitsInput = z.infer<typeof jobLimitsSchema>;

/** A spec after the operator's defaults and maxima were applied: every limit is concrete. */
export type ResolvedJobSpec = Immutable<z.output<typeof resolvedSpecSchema>>;
/** Written under /tmp before the command starts. */
export type InputFile = NonNullable<ResolvedJobSpec['files']>[number];
/** An uploaded file placed under /tmp before the command starts; the hash pins the exact bytes. */
export type ResolvedInput = NonNullable<ResolvedJobSpec['inputs']>[number];
export type ResolvedLimits = ResolvedJobSpec['limits'];
export type RetryPolicy = Immutable<z.output<typeof retryPolicySchema>>;
