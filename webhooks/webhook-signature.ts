import { createHmac } from 'node:crypto';
import { signingSecretBytes } from './signing-keys.ts';

/** What Standard Webhooks signs: the message id, the attempt's timestamp (seconds) and the exact body. */
export interface SignedContent {
  readonly id: string;
  readonly timestamp: number;
  readonly body: string;
}

/** One `v1,<base64 HMAC-SHA256>` per secret, space separated: a receiver accepts any one that matches. */
export function webhookSignature(content: SignedContent, secrets: readonly string[]): string {
  return secrets
    .map((secret) => {
      const mac = createHmac('sha256', signingSecretBytes(secret))
        .update(`${content.id}.${content.timestamp}.${content.body}`)
        .digest('base64');
      return `v1,${mac}`;
    })
    .join(' ');
}

/** The headers of one attempt: the same `webhook-id` on every attempt of a delivery, so receivers dedupe. */
export function webhookHeaders(content: SignedContent, secrets: readonly string[]): Record<string, string> {
  return {
    'content-type': 'application/json',
    'webhook-id': content.id,
    'webhook-timestamp': String(content.timestamp),
    'webhook-signature': webhookSignature(content, secrets),
  };
}
