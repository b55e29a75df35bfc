import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export interface SecretKey {
  readonly id: string;
  /** 32 bytes. */
  readonly key: Buffer;
}

export interface SealedSecret {
  readonly keyId: string;
  readonly nonce: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

/**
 * AES-256-GCM with the secret's tenant and name as associated data, so a sealed value copied onto
 * another row does not decrypt.
 */
export function sealSecret(key: SecretKey, associatedData: string, value: string): SealedSecret {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.key, nonce);
  cipher.setAAD(Buffer.from(associatedData, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
  return { keyId: key.id, nonce, ciphertext, tag: cipher.getAuthTag() };
}

/** Decrypts with whichever configured key sealed it; throws if that key is gone or the data was altered. */
export function openSecret(keys: readonly SecretKey[], associatedData: string, sealed: SealedSecret): string {
  const key = keys.find((candidate) => candidate.id === sealed.keyId);
  if (!key) throw new Error(`secret key ${sealed.keyId} is not configured`);
  const decipher = createDecipheriv('aes-256-gcm', key.key, sealed.nonce);
  decipher.setAAD(Buffer.from(associatedData, 'utf8'));
  decipher.setAuthTag(sealed.tag);
  return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]).toString('utf8');
}
