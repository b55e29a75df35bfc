import { z } from 'zod';
import { resolvedSpecSchema } from './job-events.schema.ts';

/** What a schedule does with slots that came due while nothing could fire them (everything down). */
export const catchUpPolicySchema = z.enum(['skip', 'run-once', 'run-all']);
export type CatchUpPolicy = z.infer<typeof catchUpPolicySchema>;

/** What a slot does when the job of the slot before it has not finished. */
export const overlapPolicySchema = z.enum(['allow', 'skip-if-running', 'cancel-previous']);
export type OverlapPolicy = z.infer<typeof overlapPolicySchema>;

/** Why a slot passed without a job. */
export const slotSkipReasonSchema = z.enum(['missed', 'overlap']);
export type SlotSkipReason = z.infer<typeof slotSkipReasonSchema>;

/** When a schedule's slots fall: a cron expression read in a time zone, or a fixed interval from `startAt`. */
export const scheduleTimingSchema = z.union([
  z.object({ cron: z.string(), timeZone: z.string() }).strict(),
  z.object({ intervalMs: z.number().int().positive() }).strict(),
]);
export type ScheduleTiming = z.infer<typeof scheduleTimingSchema>;

/**
 * Everything a schedule is, as its events carry it: the job spec (already resolved against the
 * operator's defaults and maxima when the schedule was written), its timing and its policies.
 */
export const scheduleDefinitionSchema = z.object({
  name: z.string().optional(),
  spec: resolvedSpecSchema,
  timing: scheduleTimingSchema,
  catchUp: catchUpPolicySchema,
  // run-all fires at most this many missed slots (the newest); the older ones are skipped.
  maxCatchUp: z.number().int().min(1).max(100),
  overlap: overlapPolicySchema,
  // No slot before it fires; an interval's slots fall at startAt + k × intervalMs.
  startAt: z.iso.datetime(),
});
export type ScheduleDefinition = z.infer<typeof scheduleDefinitionSchema>;

/** Events of a schedule's own stream (`schedule-<id>`). */
export const scheduleEventSchemas = {
  ScheduleCreated: { version: 1, data: scheduleDefinitionSchema },
  // The whole definition after the change; a new timing applies to slots after `effectiveAt` only.
  ScheduleChanged: {
    version: 1,
    data: scheduleDefinitionSchema.extend({ effectiveAt: z.iso.datetime() }),
  },
  SchedulePaused: { version: 1, data: z.object({}) },
  // Slots that fell while it was paused are not caught up: only those after `resumedAt` fire.
  ScheduleResumed: { version: 1, data: z.object({ resumedAt: z.iso.datetime() }) },
  ScheduleDeleted: { version: 1, data: z.object({}) },
  // A job was submitted for the slot under a job id derived from the schedule and the slot; `late`:
  // it fired as a catch-up; `cancelledJobId`: the previous slot's job it cancelled (cancel-previous).
  ScheduleFired: {
    version: 1,
    data: z.object({
      slot: z.iso.datetime(),
      jobId: z.uuid(),
      late: z.boolean(),
      cancelledJobId: z.uuid().optional(),
    }),
  },
  // Slots firstSlot..slot passed without a job; `count` of them, when counted (at most 1,000 are).
  ScheduleSlotSkipped: {
    version: 1,
    data: z.object({
      slot: z.iso.datetime(),
      firstSlot: z.iso.datetime(),
      count: z.number().int().positive().optional(),
      reason: slotSkipReasonSchema,
      // overlap: the job still running when the slot came.
      runningJobId: z.uuid().optional(),
    }),
  },
} as const;

export type ScheduleEventType = keyof typeof scheduleEventSchemas;

/** A schedule event as the domain sees it: a discriminated union on `type`. */
export type ScheduleEvent = {
  [Type in ScheduleEventType]: {
    readonly type: Type;
    readonly data: z.infer<(typeof scheduleEventSchemas)[Type]['data']>;
  };
}[ScheduleEventType];

export const scheduleEventTypes = Object.keys(scheduleEventSchemas) as ScheduleEventType[];
