import type { SandboxOutputChunk } from './sandbox.ts';

export interface OutputBatcherOptions {
  /** Flush once this many bytes are pending. */
  readonly maxBytes: number;
  /** Flush at most this long after the first pending byte. */
  readonly maxDelayMs: number;
  readonly emit: (chunk: SandboxOutputChunk) => void;
}

export interface OutputBatcher {
  push(stream: SandboxOutputChunk['stream'], bytes: Buffer): void;
  /** Emits what is pending; `cut` (the output cap was hit) drops a character split by the cut, as the final capture does. */
  end(cut: boolean): void;
}

/** 16 KiB or 250 ms, whichever comes first: a few events per second per job, at most cap/16 KiB in all. */
export const defaultBatching = { maxBytes: 16 * 1024, maxDelayMs: 250 } as const;

/**
 * Turns demultiplexed output into ordered chunks: consecutive bytes of one stream are merged,
 * a switch of stream starts a new chunk, and each stream is decoded as UTF-8 on its own so a
 * character split across frames arrives whole.
 */
export function createOutputBatcher(options: OutputBatcherOptions): OutputBatcher {
  const decoders = { stdout: new TextDecoder('utf-8'), stderr: new TextDecoder('utf-8') };
  let pending: { stream: SandboxOutputChunk['stream']; text: string }[] = [];
  let pendingBytes = 0;
  let timer: NodeJS.Timeout | undefined;
  let ended = false;

  const add = (stream: SandboxOutputChunk['stream'], text: string): void => {
    if (text === '') return;
    const last = pending.at(-1);
    if (last?.stream === stream) last.text += text;
    else pending.push({ stream, text });
  };

  const flush = (): void => {
    clearTimeout(timer);
    timer = undefined;
    const chunks = pending;
    pending = [];
    pendingBytes = 0;
    for (const chunk of chunks) options.emit(chunk);
  };

  return {
    push(stream, bytes) {
      if (ended) return;
      add(stream, decoders[stream].decode(bytes, { stream: true }));
      pendingBytes += bytes.length;
      if (pendingBytes >= options.maxBytes) flush();
      else if (timer === undefined && pending.length > 0) timer = setTimeout(flush, options.maxDelayMs);
    },
    end(cut) {
      if (ended) return;
      ended = true;
      if (!cut) {
        add('stdout', decoders.stdout.decode());
        add('stderr', decoders.stderr.decode());
      }
      flush();
    },
  };
}
