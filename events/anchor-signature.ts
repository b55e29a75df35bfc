import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import type { Anchor, UnsignedAnchor } from '../schemas/anchor.schema.ts';

/** A key the anchor code refuses: not Ed25519, or not the kind (private/public) it needs. */
class AnchorKeyError extends Error {
  readonly code = 'anchor-key-invalid';
}

/**
 * The bytes an anchor's signature covers: every field but the signature, as a JSON array in a fixed
 * order, so no serializer's key order can change them.
 */
export function anchorSigningPayload(anchor: UnsignedAnchor): Buffer {
  return Buffer.from(
    JSON.stringify([
      'omni-anchor',
      anchor.v,
      anchor.position,
      anchor.transactionId,
      anchor.count,
      anchor.total,
      anchor.root,
      anchor.previous,
      anchor.time,
      anchor.keyId,
    ]),
  );
}

/** Names a key pair by its public half, so a verifier can say which key an anchor needs. */
export function anchorKeyId(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 32);
}

function ed25519(key: KeyObject, type: 'private' | 'public'): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519' || key.type !== type) {
    throw new AnchorKeyError(`expected an Ed25519 ${type} key, got ${key.asymmetricKeyType} ${key.type}`);
  }
  return key;
}

/** Reads a PEM (PKCS#8) Ed25519 private key. */
export function loadAnchorPrivateKey(pem: string | Buffer): KeyObject {
  return ed25519(createPrivateKey(pem), 'private');
}

/** Reads a PEM (SPKI) Ed25519 public key; a private key's PEM gives its public half. */
export function loadAnchorPublicKey(pem: string | Buffer): KeyObject {
  return ed25519(createPublicKey(pem), 'public');
}

export function signAnchor(anchor: UnsignedAnchor, privateKey: KeyObject): Anchor {
  const signature = sign(null, anchorSigningPayload(anchor), ed25519(privateKey, 'private'));
  return { ...anchor, signature: signature.toString('base64') };
}

export function anchorSignatureHolds(anchor: Anchor, publicKey: KeyObject): boolean {
  return verify(null, anchorSigningPayload(anchor), publicKey, Buffer.from(anchor.signature, 'base64'));
}

/** What the next anchor's `previous` must be: the SHA-256 of this line's exact text. */
export function anchorLineHash(line: string): string {
  return createHash('sha256').update(line).digest('hex');
}
