/**
 * Reads Docker's multiplexed attach/exec stream (Tty: false): an 8-byte header [stream type (0
 * stdin, 1 stdout, 2 stderr), 0, 0, 0, payload length uint32 big-endian], then the payload.
 * Frames may arrive split or glued across chunks.
 */
export interface FrameReader {
  /** Feeds one chunk; every whole frame in it is handed to the callback, in order. */
  push(chunk: Buffer): void;
}

const headerBytes = 8;

/** `onFrame` sees each payload as a view into the chunk: copy what must outlive the call. */
export function createFrameReader(onFrame: (streamType: number, payload: Buffer) => void): FrameReader {
  let pending: Buffer = Buffer.alloc(0);
  return {
    push(chunk) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let offset = 0;
      while (pending.length - offset >= headerBytes) {
        const streamType = pending.readUInt8(offset);
        const length = pending.readUInt32BE(offset + 4);
        if (pending.length - offset - headerBytes < length) break;
        const start = offset + headerBytes;
        onFrame(streamType, pending.subarray(start, start + length));
        offset = start + length;
      }
      pending = offset === 0 ? pending : Buffer.from(pending.subarray(offset));
    },
  };
}
