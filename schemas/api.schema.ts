import { z } from 'zod';
import { jobStatusSchema } from './job-status.schema.ts';

/** RFC 9457 problem details, as every error leaves the API. */
export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    code: z.string().describe('stable, machine-readable error code'),
    detail: z.string(),
    instance: z.string(),
    requestId: z.string().optional(),
    errors: z.array(z.object({ pointer: z.string(), detail: z.string() })).optional(),
  })
  .meta({ id: 'Problem' });

const links = z.object({ self: z.string(), events: z.string() }).catchall(z.string());

export const jobAcceptedSchema = z
  .object({
    id: z.uuid(),
    status: z.literal('queued'),
    links,
    // With a callback: the secret its deliveries are signed with, returned this once.
    callback: z.object({ secret: z.string() }).optional(),
  })
  .meta({ id: 'JobAccepted' });

export const jobViewSchema = z
  .object({
    id: z.uuid(),
    status: jobStatusSchema,
    attempt: z.number().int(),
    image: z.string(),
    command: z.array(z.string()),
    submittedBy: z.string().nullable(),
    submittedAt: z.iso.datetime(),
    startedAt: z.iso.datetime().nullable(),
    finishedAt: z.iso.datetime().nullable(),
    durationMs: z.number().nullable(),
    // Where the last attempt ran: the container runtime (runc, runsc, crun), a container started
    // ahead (warm) or for it (cold), and whether the OOM killer struck; null before it ran.
    runtime: z.string().nullable().optional(),
    sandboxPath: z.enum(['warm', 'cold']).nullable().optional(),
    oom: z.boolean().nullable().optional(),
    exitCode: z.number().int().nullable(),
    failureReason: z.string().nullable(),
    // What the operator must do about it, in words (which image is missing, and why).
    failureMessage: z.string().nullable(),
    stdout: z.string().nullable(),
    stderr: z.string().nullable(),
    outputTruncated: z.boolean(),
    labels: z.record(z.string(), z.string()),
    // The schedule and slot that submitted the job; null when a client did.
    schedule: z.object({ id: z.uuid(), slot: z.iso.datetime() }).nullable().optional(),
    // The job's callback; null without one.
    callback: z.object({ url: z.string() }).nullable().optional(),
    inputs: z
      .array(z.object({ file: z.uuid(), path: z.string(), sha256: z.string(), size: z.number().int() }))
      .optional(),
    outputs: z.array(z.string()).optional(),
    // Where files and inputs were placed besides /tmp, and where the command started.
    inputDirectories: z.array(z.string()).optional(),
    workingDir: z.string().optional(),
    artifacts: z
      .array(
        z.object({
          attempt: z.number().int(),
          fileId: z.uuid(),
          path: z.string(),
          size: z.number().int(),
          sha256: z.string(),
          contentType: z.string(),
          links: z.object({ content: z.string() }),
        }),
      )
      .optional(),
    refusedOutputs: z
      .array(
        z.object({
          attempt: z.number().int(),
          path: z.string(),
          reason: z
            .string()
            .describe('too-large, too-many, symlink, not-a-regular-file, missing, unreadable'),
          detail: z.string().optional(),
        }),
      )
      .optional(),
    links,
  })
  .loose()
  .meta({ id: 'JobView' });

/** An uploaded file or a job's artifact; the bytes are at links.content. */
export const fileViewSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    contentType: z.string(),
    size: z.number().int(),
    sha256: z.string().describe('SHA-256 of the bytes, lower-case hex'),
    kind: z.enum(['upload', 'artifact']),
    jobId: z.uuid().nullable(),
    attempt: z.number().int().nullable(),
    createdBy: z.string().nullable(),
    createdAt: z.iso.datetime(),
    links: z.object({ content: z.string(), meta: z.string() }),
  })
  .meta({ id: 'FileView' });

export const fileListSchema = z
  .object({ files: z.array(fileViewSchema), next: z.string().nullable() })
  .meta({ id: 'FileList' });

export const eventViewSchema = z
  .object({
    position: z.number().int(),
    streamId: z.string(),
    streamVersion: z.number().int(),
    eventId: z.uuid(),
    type: z.string(),
    schemaVersion: z.number().int(),
    data: z.unknown(),
    metadata: z.record(z.string(), z.unknown()),
    recordedAt: z.iso.datetime(),
  })
  .meta({ id: 'Event' });

/** A page of a job's history; `next` is the `after` of the following page (null: this was the last). */
export const jobEventsSchema = z
  .object({
    id: z.uuid(),
    events: z.array(eventViewSchema),
    next: z.number().int().nullable(),
  })
  .meta({ id: 'JobEvents' });

export const secretListSchema = z
  .object({ secrets: z.array(z.object({ name: z.string() })) })
  .meta({ id: 'SecretList' });

export const putSecretBodySchema = z
  .object({
    value: z
      .string()
      .min(1)
      .max(64 * 1024),
  })
  .strict()
  .meta({ id: 'SecretValue' });

export const healthSchema = z.object({ status: z.literal('ok') }).meta({ id: 'Health' });
export const readinessSchema = z
  .object({
    status: z.enum(['ready', 'not-ready']),
    checks: z.record(z.string(), z.object({ ok: z.boolean(), detail: z.string().optional() })),
  })
  .meta({ id: 'Readiness' });

export const jobListSchema = z
  .object({
    jobs: z.array(
      z
        .object({
          id: z.uuid(),
          status: jobStatusSchema,
          image: z.string(),
          command: z.string(),
          labels: z.record(z.string(), z.string()),
          submittedAt: z.iso.datetime(),
        })
        .loose(),
    ),
    nextCursor: z.string().nullable(),
  })
  .meta({ id: 'JobList' });

export const jobOutputSchema = z
  .object({
    id: z.uuid(),
    status: jobStatusSchema,
    finished: z.boolean(),
    chunks: z.array(
      z
        .object({
          version: z.number().int(),
          attempt: z.number().int(),
          seq: z.number().int(),
          stream: z.enum(['stdout', 'stderr']),
          text: z.string(),
        })
        .loose(),
    ),
  })
  .meta({ id: 'JobOutput' });

export const jobAtSchema = z
  .object({
    position: z.number().int(),
    streamVersion: z.number().int(),
    job: jobViewSchema,
  })
  .meta({ id: 'JobAt' });

export const eventPageSchema = z
  .object({
    events: z.array(eventViewSchema.extend({ cursor: z.string() })),
    next: z.string().nullable(),
  })
  .meta({ id: 'EventPage' });

export const chainVerificationSchema = z
  .object({
    ok: z.boolean(),
    eventsChecked: z.number().int(),
    firstBrokenPosition: z.number().int().optional(),
    streamId: z.string().optional(),
  })
  .loose()
  .meta({ id: 'ChainVerification' });
