import { z } from 'zod';

/** The job events a webhook can be told of: each one ends a job (JobFailed only when no retry follows). */
export const webhookJobEventTypes = ['JobSucceeded', 'JobFailed', 'JobCancelled', 'JobExpired'] as const;
export type WebhookJobEventType = (typeof webhookJobEventTypes)[number];

/** Why an attempt did not count as delivered; each is one filterable outcome. */
const webhookFailureReasonSchema = z.enum([
  // The receiver answered outside 2xx (status says which); a 3xx is one: redirects are not followed.
  'http-status',
  'timeout',
  // Refused, reset or closed before an answer, or TLS failed.
  'connection',
  // The name did not resolve.
  'dns',
  // The name resolved only to addresses deliveries may not go to (never retried).
  'forbidden-address',
]);
export type WebhookFailureReason = z.infer<typeof webhookFailureReasonSchema>;

/** Who asked for a delivery: the job's own callback, or one of its tenant's subscriptions. */
const deliveryTargetFields = {
  deliveryId: z.uuid(),
  url: z.string(),
  attempt: z.number().int().positive(),
  // The job event told of.
  event: z.enum(webhookJobEventTypes),
  subscriptionId: z.uuid().optional(),
};

/**
 * Delivery attempts, appended to the job's own stream so its timeline shows them. They change
 * nothing about the job: its state, the decider and the jobs read model pass over them.
 */
export const webhookDeliveryEventSchemas = {
  WebhookDelivered: {
    version: 1,
    data: z.object({
      ...deliveryTargetFields,
      status: z.number().int().min(200).max(299),
      durationMs: z.number().nonnegative(),
    }),
  },
  WebhookFailed: {
    version: 1,
    data: z.object({
      ...deliveryTargetFields,
      reason: webhookFailureReasonSchema,
      willRetry: z.boolean(),
      status: z.number().int().min(100).max(999).optional(),
      durationMs: z.number().nonnegative().optional(),
      // What the client library said (a connection's error code), bounded.
      detail: z.string().max(500).optional(),
    }),
  },
} as const;

/** What a subscription listens for: named terminal job events, or `terminal` for all of them. */
export const webhookEventFilterSchema = z.union([z.enum(webhookJobEventTypes), z.literal('terminal')]);
export type WebhookEventFilter = z.infer<typeof webhookEventFilterSchema>;

/** Events of a subscription's own stream (`webhook-<id>`); the signing secret never appears in them. */
export const webhookSubscriptionEventSchemas = {
  WebhookSubscribed: {
    version: 1,
    data: z.object({
      subscriptionId: z.uuid(),
      tenant: z.string(),
      url: z.string(),
      events: z.array(webhookEventFilterSchema),
      // Which SECRETS_KEYS key sealed its signing secret.
      keyId: z.string(),
    }),
  },
  WebhookUnsubscribed: {
    version: 1,
    data: z.object({ subscriptionId: z.uuid(), tenant: z.string() }),
  },
} as const;

export const webhookStreamId = (subscriptionId: string) => `webhook-${subscriptionId}`;
