import { randomFillSync } from 'node:crypto';

// Random bytes drawn 4 KiB at a time: one getrandom call per 256 ids instead of one each.
const pool = new Uint8Array(4096);
let offset = pool.length;

/**
 * A version 7 UUID (RFC 9562): the first 48 bits are the Unix time in milliseconds, the other 74 are
 * random. Ids made close in time sort close, so a unique index on them grows at its right edge
 * instead of touching (and, after each checkpoint, logging a full image of) a random page per insert.
 */
export function uuidV7(now: number = Date.now()): string {
  if (offset + 16 > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const bytes = pool.subarray(offset, offset + 16);
  offset += 16;
  // 48-bit big-endian milliseconds; split because bitwise operators stop at 32 bits.
  const high = Math.floor(now / 0x1_0000_0000);
  const low = now % 0x1_0000_0000;
  bytes[0] = (high >>> 8) & 0xff;
  bytes[1] = high & 0xff;
  bytes[2] = (low >>> 24) & 0xff;
  bytes[3] = (low >>> 16) & 0xff;
  bytes[4] = (low >>> 8) & 0xff;
  bytes[5] = low & 0xff;
  bytes[6] = 0x70 | ((bytes[6] ?? 0) & 0x0f);
  bytes[8] = 0x80 | ((bytes[8] ?? 0) & 0x3f);
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
