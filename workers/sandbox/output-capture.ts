/**
 * Demultiplexes Docker's attach stream (Tty: false) and keeps at most `limitBytes` of stdout+stderr.
 *
 * Frame format: 8-byte header [stream type (0 stdin, 1 stdout, 2 stderr), 0, 0, 0, payload length
 * uint32 big-endian] followed by the payload. Frames may arrive split or glued across chunks.
 * Output is kept as Buffers and decoded once at the end, so a multibyte character split across
 * frames or chunks decodes correctly.
 */
export interface OutputCapture {
  /** Feeds one chunk of the raw attach stream. Returns true once the byte cap has been exceeded. */
  push(chunk: Buffer): boolean;
  /** The stream ended: keeps what the stdout filter still held back. */
  finish(): void;
  readonly exceeded: boolean;
  /** Decoded output; a character cut by the cap is dropped rather than shown as U+FFFD. */
  result(): CapturedOutput;
}

export interface CapturedOutput {
  readonly stdout: string;
  readonly stderr: string;
  readonly truncated: boolean;
}

const headerBytes = 8;
const streamStdout = 1;
const streamStderr = 2;

/** Told about every kept payload (stream 1 stdout, 2 stderr), in order: the feed of live output. */
export type KeptOutputListener = (streamType: 1 | 2, payload: Buffer) => void;

/** Sees stdout before it is kept and returns the part that is the job's own output. */
export interface StdoutFilter {
  push(payload: Buffer): Buffer;
  /** Whatever it still holds once the stream ended. */
  end(): Buffer;
}

export function createOutputCapture(
  limitBytes: number,
  onKept?: KeptOutputListener,
  stdoutFilter?: StdoutFilter,
): OutputCapture {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  let kept = 0;
  let exceeded = false;
  let pending: Buffer = Buffer.alloc(0);

  function keep(streamType: number, payload: Buffer): void {
    if (streamType !== streamStdout && streamType !== streamStderr) return;
    const room = limitBytes - kept;
    if (payload.length > room) exceeded = true;
    const part = payload.length > room ? payload.subarray(0, Math.max(room, 0)) : payload;
    if (part.length === 0) return;
    // Copy: the chunk's memory may be reused by the socket.
    const copy = Buffer.from(part);
    (streamType === streamStdout ? stdout : stderr).push(copy);
    kept += part.length;
    onKept?.(streamType, copy);
  }

  return {
    push(chunk) {
      // Past the cap nothing more is kept; skip parsing while the container is being killed.
      if (exceeded) return true;
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let offset = 0;
      while (pending.length - offset >= headerBytes) {
        const streamType = pending.readUInt8(offset);
        const length = pending.readUInt32BE(offset + 4);
        if (pending.length - offset - headerBytes < length) break;
        const start = offset + headerBytes;
        const payload = pending.subarray(start, start + length);
        keep(streamType, streamType === streamStdout && stdoutFilter ? stdoutFilter.push(payload) : payload);
        offset = start + length;
      }
      pending = offset === 0 ? pending : Buffer.from(pending.subarray(offset));
      return exceeded;
    },
    finish() {
      if (stdoutFilter && !exceeded) keep(streamStdout, stdoutFilter.end());
    },
    get exceeded() {
      return exceeded;
    },
    result() {
      return {
        stdout: decode(Buffer.concat(stdout), exceeded),
        stderr: decode(Buffer.concat(stderr), exceeded),
        truncated: exceeded,
      };
    },
  };
}

function decode(bytes: Buffer, cut: boolean): string {
  // When the cap cut the output, a trailing partial character is an artefact of the cut, not of the
  // job: decoding in streaming mode without a final flush leaves it out.
  return new TextDecoder('utf-8').decode(bytes, { stream: cut });
}
