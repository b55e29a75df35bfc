import { z } from 'zod';
import { webhookEventFilterSchema } from './webhook-events.schema.ts';
import { webhookUrlSchema } from './webhook-url.schema.ts';

/** POST /v1/webhooks: where to POST, and which of a job's ends (or `terminal`: all of them). */
export const createWebhookBodySchema = z
  .object({
    url: webhookUrlSchema,
    events: z
      .array(webhookEventFilterSchema)
      .min(1)
      .max(5)
      .refine((events) => new Set(events).size === events.length, 'each event type at most once'),
  })
  .strict()
  .meta({ id: 'WebhookSubscription' });

/** A subscription as GET answers it; never the secret. */
export const webhookViewSchema = z
  .object({
    id: z.uuid(),
    url: z.string(),
    events: z.array(webhookEventFilterSchema),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'Webhook' });

/** The answer to POST /v1/webhooks: the subscription and, this once, its signing secret. */
export const createdWebhookSchema = webhookViewSchema
  .extend({
    secret: z.string().regex(/^whsec_[A-Za-z0-9+/]+=*$/),
  })
  .meta({ id: 'CreatedWebhook' });
