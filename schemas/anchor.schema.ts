import { z } from 'zod';

const hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`));

/**
 * One line of an anchor file: a signed statement that the log, in commit order, up to and including
 * the event at (transactionId, position), hashes to `root`. Anchors are incremental: each covers the
 * events after the previous anchor's cursor (`count` of them, `total` since the first anchor) and
 * chains to the previous line by `previous`, the SHA-256 of that line's exact text ("" for the first).
 */
export const anchorSchema = z
  .object({
    v: z.literal(1),
    position: z.number().int().positive(),
    /** xid8 as decimal text: it can pass 2^53. */
    transactionId: z.string().regex(/^[0-9]{1,20}$/),
    count: z.number().int().positive(),
    total: z.number().int().positive(),
    root: hex(32),
    previous: z.union([z.literal(''), hex(32)]),
    time: z.iso.datetime(),
    /** First 16 bytes of the SHA-256 of the signing key's public key (SPKI DER), hex. */
    keyId: hex(16),
    /** Ed25519 over `anchorSigningPayload`, base64. */
    signature: z.string().regex(/^[A-Za-z0-9+/]{86}==$/),
  })
  .strict();
export type Anchor = z.infer<typeof anchorSchema>;
export type UnsignedAnchor = Omit<Anchor, 'signature'>;
