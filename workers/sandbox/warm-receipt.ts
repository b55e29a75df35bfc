import { warmReceiptByte } from './warm-wrapper.ts';

/**
 * Reads the warm wrapper's receipt out of a taken container's attach stream: the one stdout byte it
 * prints once it has read the first line of its job, before the job exists, so it is the first
 * byte on stdout (the job's stderr may overtake it: the engine copies each stream on its own).
 * Without it, a container that ended had never been handed the job: it died while it waited
 * (killed from outside, an engine restart), and its end is no outcome of the job.
 */
export interface ReceiptReader {
  /** Feeds one raw chunk (multiplexed frames); returns the bytes to pass on, receipt removed. */
  push(chunk: Buffer): Buffer;
  /** Whether the wrapper said it read the job, or the job printed (which it does only after). */
  readonly received: boolean;
}

const headerBytes = 8;
const stdoutStream = 1;

export function createReceiptReader(): ReceiptReader {
  let pending: Buffer = Buffer.alloc(0);
  let found = false;
  let received = false;
  return {
    push(chunk) {
      if (found) return chunk;
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      const passed: Buffer[] = [];
      let offset = 0;
      while (!found && pending.length - offset >= headerBytes) {
        const length = pending.readUInt32BE(offset + 4);
        if (pending[offset] !== stdoutStream) {
          // The job's stderr ahead of the receipt: passed on whole, frame by frame.
          const end = offset + headerBytes + length;
          if (pending.length < end) break;
          passed.push(pending.subarray(offset, end));
          received = true;
          offset = end;
          continue;
        }
        if (length === 0) {
          offset += headerBytes;
          continue;
        }
        if (pending.length - offset < headerBytes + 1) break;
        found = true;
        received = true;
        if (pending.toString('latin1', offset + headerBytes, offset + headerBytes + 1) !== warmReceiptByte) {
          // Not the wrapper's byte (it cannot be, as it prints first): everything is the job's.
          passed.push(pending.subarray(offset));
        } else if (length === 1) {
          passed.push(pending.subarray(offset + headerBytes + 1));
        } else {
          // The job's own bytes shared the receipt's frame: the same frame, one byte shorter.
          const header = Buffer.from(pending.subarray(offset, offset + headerBytes));
          header.writeUInt32BE(length - 1, 4);
          passed.push(header, pending.subarray(offset + headerBytes + 1));
        }
        offset = pending.length;
      }
      const out = Buffer.concat(passed);
      pending = Buffer.from(pending.subarray(offset));
      return out;
    },
    get received() {
      return received;
    },
  };
}
