import { z } from 'zod';

/** `POST /v1/admin/verify` query: `since=checkpoint` walks only what committed after the last run that held. */
export const verifyStartQuerySchema = z.object({ since: z.enum(['checkpoint']).optional() }).strict();

/** A verification run as the API reports it (`/v1/admin/verify/runs/:id`). */
export const verifyRunSchema = z
  .object({
    id: z.uuid(),
    status: z.enum(['running', 'finished', 'stopped', 'abandoned', 'errored']),
    sinceCheckpoint: z.boolean(),
    eventsChecked: z.number().int(),
    startedAt: z.iso.datetime(),
    finishedAt: z.iso.datetime().nullable(),
    /** The verification's report once finished (as GET /v1/admin/verify answers it); null before. */
    result: z
      .object({ ok: z.boolean() })
      .loose()
      .or(z.object({ error: z.string() }))
      .nullable(),
  })
  .strict()
  .meta({ id: 'VerifyRun' });
