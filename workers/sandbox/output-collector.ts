import type { Duplex } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type Docker from 'dockerode';
import { createFrameReader } from './attach-frames.ts';
import { withEngineDeadline } from './docker-errors.ts';
import { collectNowPath } from './job-wrapper.ts';

/** What reading /out gave: the tar, or why there is none. */
export type OutCollection =
  | { readonly status: 'collected'; readonly archive: Buffer }
  | { readonly status: 'overflowed'; readonly maxBytes: number }
  | { readonly status: 'failed'; readonly detail: string };

export interface OutCollectorOptions {
  /** The sandbox's user (`uid:gid`); the collector runs as root in the job's group, never as its uid. */
  readonly jobUser: string;
  /** Bytes of tar read at most: /out's size plus room for headers. */
  readonly maxBytes: number;
  readonly engine: string;
  readonly callMs: number;
  /** Aborted when the run is over: a collector not started by then never will be. */
  readonly signal: AbortSignal;
}

/** Between two tries to start the collector: the engine refuses an exec while the job holds every pid. */
const startRetryMs = 200;

/**
 * Waits inside the container for the wrapper's word that the job is over, then writes a tar of
 * /out. Polled, not signalled: the job's uid cannot signal root, and a FIFO would need a place
 * root may write. A job that makes the file early only chooses when its own /out is read.
 *
 * Output: the tar on stdout (of this exec alone), tar's complaints on stderr; exit 0, or 1 when
 * tar skipped something (a file the job made unreadable to others is not collected).
 */
const collectorScript = `while [ ! -e ${collectNowPath} ]; do sleep 0.02 2>/dev/null || sleep 1; done
cd / && exec tar -c -f - out`;

/** Longest tar complaint kept for the refusal's detail. */
const maxComplaintBytes = 1024;

/**
 * Reads /out back through an exec as a uid other than the job's. The job cannot read or write
 * that exec's stream: its processes may not ptrace, signal or open the descriptors of another
 * uid's process (no CAP_SYS_PTRACE, `no-new-privileges`), whereas everything the wrapper (PID 1,
 * the job's uid) holds is the job's to read. Root here has no capabilities: it reads what others
 * may read and writes nothing. The bytes are counted as they stream: past `maxBytes` (sparse files
 * read back as their full size) the stream is dropped at once and the caller ends the container.
 */
export async function collectOut(
  container: Docker.Container,
  options: OutCollectorOptions,
): Promise<OutCollection> {
  for (;;) {
    const collection = await collectOnce(container, options);
    // A collector that died before tar wrote a byte (its shell exits when a fork fails while the
    // job holds every pid) is started again until the run is over.
    if (collection !== 'died-waiting') return collection;
    if (options.signal.aborted)
      return { status: 'failed', detail: 'the collector of /out ended before the job was over' };
    await delay(startRetryMs);
  }
}

async function collectOnce(
  container: Docker.Container,
  options: OutCollectorOptions,
): Promise<OutCollection | 'died-waiting'> {
  const { engine, callMs, maxBytes } = options;
  const group = options.jobUser.split(':')[1] ?? '0';
  let started: { readonly exec: Docker.Exec; readonly stream: Duplex } | undefined;
  let lastError: unknown;
  while (started === undefined && !options.signal.aborted) {
    started = await startCollector(container, group, engine, callMs).catch((error: unknown) => {
      lastError = error;
      return undefined;
    });
    if (started === undefined) await delay(startRetryMs);
  }
  if (started === undefined)
    return {
      status: 'failed',
      detail: `the collector of /out could not start: ${(lastError as Error | undefined)?.message ?? 'the run ended first'}`,
    };
  const { exec, stream } = started;

  const parts: Buffer[] = [];
  let archiveBytes = 0;
  let complaint = '';
  let overflowed = false;
  const ended = new Promise<void>((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.on('error', () => resolve());
  });
  const frames = createFrameReader((streamType, payload) => {
    if (overflowed) return;
    if (streamType === 2) {
      if (complaint.length < maxComplaintBytes)
        complaint += payload.toString('utf8').slice(0, maxComplaintBytes);
      return;
    }
    if (streamType !== 1) return;
    archiveBytes += payload.length;
    if (archiveBytes > maxBytes) {
      overflowed = true;
      parts.length = 0;
      stream.destroy();
      return;
    }
    parts.push(Buffer.from(payload));
  });
  stream.on('data', (chunk: Buffer) => frames.push(chunk));
  await ended;
  if (overflowed) return { status: 'overflowed', maxBytes };

  const exitCode = await exitCodeOf(exec, options);
  // tar exits 1 when it skipped a file it could not read; what it wrote is still a whole archive.
  if (exitCode === 0 || exitCode === 1) return { status: 'collected', archive: Buffer.concat(parts) };
  if (archiveBytes === 0 && exitCode !== null && !options.signal.aborted) return 'died-waiting';
  return {
    status: 'failed',
    detail: `reading /out ended with ${exitCode === null ? 'no exit code' : `exit code ${exitCode}`}${
      complaint === '' ? '' : `: ${complaint.trim().slice(0, 200)}`
    }`,
  };
}

async function startCollector(
  container: Docker.Container,
  group: string,
  engine: string,
  callMs: number,
): Promise<{ readonly exec: Docker.Exec; readonly stream: Duplex }> {
  const exec = await withEngineDeadline(engine, 'starting the /out collector', callMs, (signal) =>
    container.exec({
      Cmd: ['sh', '-c', collectorScript],
      User: `0:${group}`,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      abortSignal: signal,
    }),
  );
  const stream = (await withEngineDeadline(engine, 'starting the /out collector', callMs, (signal) =>
    exec.start({ hijack: true, stdin: false, abortSignal: signal }),
  )) as Duplex;
  return { exec, stream };
}

/** The exec's exit code; the engine may report the end of its stream a moment before its exit. */
async function exitCodeOf(exec: Docker.Exec, options: OutCollectorOptions): Promise<number | null> {
  for (let look = 0; look < 20; look += 1) {
    const info = await withEngineDeadline(
      options.engine,
      'inspecting the /out collector',
      options.callMs,
      (signal) => exec.inspect({ abortSignal: signal }),
    ).catch(() => undefined);
    if (info === undefined) return null;
    if (!info.Running) return info.ExitCode;
    await delay(50);
  }
  return null;
}
