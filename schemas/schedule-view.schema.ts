import { z } from 'zod';
import { catchUpPolicySchema, overlapPolicySchema, slotSkipReasonSchema } from './schedule-events.schema.ts';

/** A schedule as GET /v1/schedules/:id shows it (documented in the OpenAPI file from this). */
export const scheduleViewSchema = z
  .object({
    id: z.uuid(),
    name: z.string().nullable(),
    status: z.enum(['active', 'paused']),
    cron: z.string().nullable(),
    timeZone: z.string().nullable(),
    intervalMs: z.number().int().nullable(),
    catchUp: catchUpPolicySchema,
    maxCatchUp: z.number().int(),
    overlap: overlapPolicySchema,
    startAt: z.iso.datetime(),
    job: z
      .object({ image: z.string(), command: z.array(z.string()), labels: z.record(z.string(), z.string()) })
      .loose(),
    nextSlotAt: z.iso.datetime().nullable(),
    lastFired: z.object({ slot: z.iso.datetime(), jobId: z.uuid() }).nullable(),
    firedCount: z.number().int(),
    skippedCount: z.number().int(),
    recent: z.array(
      z.object({
        slot: z.iso.datetime(),
        outcome: z.enum(['fired', 'skipped']),
        jobId: z.uuid().optional(),
        late: z.boolean().optional(),
        reason: slotSkipReasonSchema.optional(),
        count: z.number().int().optional(),
      }),
    ),
    createdBy: z.string().nullable(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    links: z.object({ self: z.string() }),
  })
  .loose()
  .meta({ id: 'Schedule' });

export const scheduleListSchema = z
  .object({
    schedules: z.array(scheduleViewSchema),
    next: z.uuid().nullable(),
  })
  .meta({ id: 'ScheduleList' });
