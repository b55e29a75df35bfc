import { createHmac, randomBytes } from 'node:crypto';

/** A sealed value as the secrets room seals one (AES-256-GCM under a named key). */
export interface SealedValue {
  readonly keyId: string;
  readonly nonce: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

/**
 * What signs deliveries, handed in by the composition root: the webhooks room holds no cipher
 * of its own, it seals and opens subscription secrets with the secrets room's, under SECRETS_KEYS.
 */
export interface SigningKeys {
  seal(associatedData: string, value: string): SealedValue;
  open(associatedData: string, sealed: SealedValue): string;
  /** Every configured key's bytes, the active (sealing) one first: job callback secrets derive from them. */
  readonly keys: readonly { readonly id: string; readonly key: Buffer }[];
}

const secretPrefix = 'whsec_';

/** A fresh signing secret in Standard Webhooks' form: `whsec_` and 32 random bytes in base64. */
export const generateSigningSecret = (): string => `${secretPrefix}${randomBytes(32).toString('base64')}`;

/** The bytes an HMAC is keyed with: the base64 after `whsec_`. */
export const signingSecretBytes = (secret: string): Buffer =>
  Buffer.from(secret.startsWith(secretPrefix) ? secret.slice(secretPrefix.length) : secret, 'base64');

/**
 * A job's callback secret, derived from a key and the job id rather than stored: nothing is written
 * beside the job at submit, and every key (old ones too) yields its own, so a key rotation leaves
 * callbacks verifiable (each delivery carries one signature per configured key).
 */
export function callbackSecret(key: Buffer, jobId: string): string {
  const derived = createHmac('sha256', key).update(`omni webhook callback\u0000${jobId}`).digest();
  return `${secretPrefix}${derived.toString('base64')}`;
}
