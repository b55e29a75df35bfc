import { createHash } from 'node:crypto';

// A namespace of our own (RFC 9562 name-based ids): the same schedule and slot give the same job
// id in any process, so a slot retried after a crash or fired by two dispatchers names one job.
const slotNamespace = Buffer.from('5f0d3c1e8a2b4c6d9e7f0a1b2c3d4e5f', 'hex');

/** The job id of a schedule's slot: a UUIDv5 of the schedule id and the slot's ISO instant. Pure. */
export function slotJobId(scheduleId: string, slot: string): string {
  const hash = createHash('sha1').update(slotNamespace).update(`${scheduleId}/${slot}`).digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50; // version 5
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80; // RFC 9562 variant
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
