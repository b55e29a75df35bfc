import { z } from 'zod';
import { inputBounds, scheduleInstantSchema } from './input-bounds.ts';
import { inputPlacementIssues, jobSpecSchema } from './job-spec.schema.ts';
import { cronProblem, isKnownTimeZone } from './schedule-cron.ts';
import { catchUpPolicySchema, overlapPolicySchema } from './schedule-events.schema.ts';

/** The bounds a schedule is held to (the README's schedules section lists them). */
export const scheduleBounds = {
  /** intervalMs: at least a second, so no schedule fires more than once a second. */
  minIntervalMs: 1_000,
  /** intervalMs: at most a year. */
  maxIntervalMs: inputBounds.maxDurationMs,
  /** maxCatchUp: run-all fires at most this many missed slots. */
  maxCatchUp: 100,
  maxCronLength: 128,
  maxTimeZoneLength: 64,
  maxNameLength: 128,
} as const;

/** Defaults of the policies a client leaves out. */
export const scheduleDefaults = {
  timeZone: 'UTC',
  catchUp: 'run-once',
  maxCatchUp: 10,
  overlap: 'skip-if-running',
} as const;

/**
 * The job a schedule submits at each slot: a job spec as POST /v1/jobs takes it, less uploaded
 * `inputs` (a file named by id may be deleted long before the slot that would read it).
 */
export const scheduleJobSchema = jobSpecSchema.omit({ inputs: true }).superRefine((job, ctx) => {
  for (const issue of inputPlacementIssues(job)) ctx.addIssue({ code: 'custom', ...issue });
});
export type ScheduleJobInput = z.infer<typeof scheduleJobSchema>;

const nameSchema = z
  .string()
  .min(1)
  .max(scheduleBounds.maxNameLength)
  .refine(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what it refuses
    (value) => value.isWellFormed() && !/[\u0000-\u001f\u007f]/.test(value),
    'must be printable text',
  );
// croner's alphabet: digits, names (MON, JAN), * / , - ? L W #, and @nicknames; nothing else gets near it.
const cronSchema = z
  .string()
  .min(1)
  .max(scheduleBounds.maxCronLength)
  .regex(/^[A-Za-z0-9*/,\-?#@ ]+$/, 'must be a cron expression (digits, names, * / , - ? L W # and spaces)');
const timeZoneSchema = z
  .string()
  .min(1)
  .max(scheduleBounds.maxTimeZoneLength)
  .refine(isKnownTimeZone, 'must be an IANA time zone, such as Europe/Berlin or UTC');
const intervalMsSchema = z
  .number()
  .int()
  .min(scheduleBounds.minIntervalMs, `at least ${scheduleBounds.minIntervalMs} ms`)
  .max(scheduleBounds.maxIntervalMs, `at most ${scheduleBounds.maxIntervalMs} ms (365 days)`);

/** The fields a schedule is made of, each bounded; shared by create (some required) and change (none). */
const scheduleFields = {
  name: nameSchema.optional(),
  job: scheduleJobSchema,
  cron: cronSchema.optional(),
  timeZone: timeZoneSchema.optional(),
  intervalMs: intervalMsSchema.optional(),
  catchUp: catchUpPolicySchema.optional(),
  maxCatchUp: z.number().int().min(1).max(scheduleBounds.maxCatchUp).optional(),
  overlap: overlapPolicySchema.optional(),
  startAt: scheduleInstantSchema.optional(),
};

/** The cron expression must parse and fire in its time zone (an invalid zone is reported on its own). */
function checkCron(
  body: { readonly cron?: string | undefined; readonly timeZone?: string | undefined },
  ctx: z.RefinementCtx,
): void {
  if (body.cron === undefined || (body.timeZone !== undefined && !isKnownTimeZone(body.timeZone))) return;
  const problem = cronProblem(body.cron, body.timeZone ?? scheduleDefaults.timeZone);
  if (problem) ctx.addIssue({ code: 'custom', path: ['cron'], message: problem });
}

/** POST /v1/schedules: a job spec and either a cron expression (with time zone) or an interval. */
export const createScheduleSchema = z
  .object(scheduleFields)
  .strict()
  .superRefine((body, ctx) => {
    if ((body.cron === undefined) === (body.intervalMs === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['cron'],
        message: 'give a cron expression or intervalMs, exactly one',
      });
    }
    if (body.timeZone !== undefined && body.cron === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['timeZone'],
        message: 'a time zone applies to a cron expression only',
      });
    }
    checkCron(body, ctx);
  });
export type CreateScheduleInput = z.infer<typeof createScheduleSchema>;

/**
 * PATCH /v1/schedules/:id: `paused` pauses or resumes; any other field changes the schedule (a cron
 * replaces an interval and the other way round). At least one field.
 */
export const changeScheduleSchema = z
  .object({
    ...scheduleFields,
    job: scheduleJobSchema.optional(),
    paused: z.boolean().optional(),
  })
  .strict()
  .superRefine((body, ctx) => {
    if (Object.keys(body).length === 0) {
      ctx.addIssue({ code: 'custom', path: [], message: 'name at least one field to change' });
    }
    if (body.cron !== undefined && body.intervalMs !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['intervalMs'],
        message: 'give a cron expression or intervalMs, not both',
      });
    }
    checkCron(body, ctx);
  });
export type ChangeScheduleInput = z.infer<typeof changeScheduleSchema>;

/** GET /v1/schedules: a page of the tenant's schedules, newest first. */
export const scheduleListQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(100).default(50),
    // The id of the last schedule of the previous page.
    after: z.uuid().optional(),
  })
  .strict();
