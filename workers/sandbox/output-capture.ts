import { type ByteMasker, createByteMasker } from '../../secrets/mask-bytes.ts';
import { createFrameReader } from './attach-frames.ts';

/**
 * Demultiplexes Docker's attach stream (Tty: false, see attach-frames.ts) and keeps at most
 * `limitBytes` of stdout+stderr. Output is kept as Buffers and decoded once at the end, so a
 * multibyte character split across frames or chunks decodes correctly.
 */
export interface OutputCapture {
  /** Feeds one chunk of the raw attach stream. Returns true once the byte cap has been exceeded. */
  push(chunk: Buffer): boolean;
  /** The stream ended: keeps what masking still held back. */
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

const streamStdout = 1;
const streamStderr = 2;

/** Told about every kept payload (stream 1 stdout, 2 stderr), in order: the feed of live output. */
export type KeptOutputListener = (streamType: 1 | 2, payload: Buffer) => void;

/**
 * `secretValues` are masked on each stream before the cap counts a byte: a cap falling inside a
 * secret would otherwise keep its first characters, which no later masking recognises.
 */
export function createOutputCapture(
  limitBytes: number,
  onKept?: KeptOutputListener,
  secretValues: readonly string[] = [],
): OutputCapture {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const maskers: Record<1 | 2, ByteMasker> = {
    [streamStdout]: createByteMasker(secretValues),
    [streamStderr]: createByteMasker(secretValues),
  };
  let kept = 0;
  let exceeded = false;

  function keep(streamType: 1 | 2, payload: Buffer): void {
    if (exceeded) return;
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

  const frames = createFrameReader((streamType, payload) => {
    if (streamType !== streamStdout && streamType !== streamStderr) return;
    keep(streamType, maskers[streamType].push(payload));
  });

  return {
    push(chunk) {
      // Past the cap nothing more is kept; skip parsing while the container is being killed.
      if (!exceeded) frames.push(chunk);
      return exceeded;
    },
    finish() {
      keep(streamStdout, maskers[streamStdout].end());
      keep(streamStderr, maskers[streamStderr].end());
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
