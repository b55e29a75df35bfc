import type Docker from 'dockerode';
import { SandboxError } from './sandbox.ts';

/** Socket-level failures: the engine is down, its socket is missing, or the connection broke. */
const unreachableCodes = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'EACCES',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** What an operator should do when the engine does not answer; part of every such log line. */
const engineFaultAction =
  'check that dockerd is running and answering (docker info) and that this worker can reach its socket; work resumes on its own once it answers';

/** The HTTP status of an engine API error (docker-modem sets `statusCode`), if any. */
export function dockerStatusCode(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** True when the engine could not be reached at all, as opposed to answering with an error. */
export function isDaemonUnreachable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && unreachableCodes.has(code)) return true;
  // docker-modem reports a connection the engine dropped mid-request as a bare "socket hang up".
  return error instanceof Error && /socket hang up/i.test(error.message);
}

/** Where a dockerode client talks to, as DOCKER_HOST would spell it (for log lines). */
export function engineAddress(docker: Docker): string {
  const modem = docker.modem as { socketPath?: unknown; host?: unknown; port?: unknown; protocol?: unknown };
  if (typeof modem.socketPath === 'string' && modem.socketPath !== '') return `unix://${modem.socketPath}`;
  if (typeof modem.host === 'string')
    return `${typeof modem.protocol === 'string' ? modem.protocol : 'http'}://${modem.host}:${String(modem.port ?? 2375)}`;
  return 'unix:///var/run/docker.sock';
}

/** An engine failure of our infrastructure (unreachable, or hung past its timeout), not of the job. */
export function isEngineFault(error: unknown): error is SandboxError {
  return error instanceof SandboxError && error.code === 'daemon-unavailable';
}

/** The `cause` of every engine-timeout error, so a slow engine can be told from a gone one. */
const timedOut = new Error('the engine call timed out');

/** The engine did not answer a call within its timeout (it hangs, or is stopped). */
export function engineTimeout(engine: string, doing: string, timeoutMs: number): SandboxError {
  return new SandboxError(
    'daemon-unavailable',
    `Docker engine at ${engine} did not answer within ${timeoutMs} ms while ${doing}; ${engineFaultAction}`,
    { cause: timedOut },
  );
}

/** True for an engine-timeout error: the engine may still be there, only not answering (yet). */
export const isEngineTimeout = (error: unknown): boolean =>
  error instanceof SandboxError && error.cause === timedOut;

/** The engine answers, but lost a run it was serving (it restarted under it). */
export function engineLostRun(engine: string, detail: string): SandboxError {
  return new SandboxError(
    'daemon-unavailable',
    `Docker engine at ${engine} lost track of a running container (${detail}; did it restart?); ${engineFaultAction}`,
  );
}

/** Wraps an engine failure as a typed SandboxError, keeping the original as `cause`. */
export function toSandboxError(error: unknown, doing: string, engine?: string): SandboxError {
  if (error instanceof SandboxError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  if (isDaemonUnreachable(error)) {
    return new SandboxError(
      'daemon-unavailable',
      `Docker engine${engine === undefined ? '' : ` at ${engine}`} unreachable while ${doing} (${detail}); ${engineFaultAction}`,
      { cause: error },
    );
  }
  return new SandboxError('sandbox-failure', `Docker failed while ${doing}: ${detail}`, { cause: error });
}

/**
 * Runs one engine call with a deadline: the call gets an AbortSignal (dockerode's `abortSignal`
 * frees the socket) and the caller gets an engine-timeout error at the deadline even when the
 * engine never answers, so a stopped engine can hold no attempt, reaper or shutdown.
 */
export async function withEngineDeadline<T>(
  engine: string,
  doing: string,
  timeoutMs: number,
  call: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(engineTimeout(engine, doing, timeoutMs));
      controller.abort();
    }, timeoutMs);
  });
  const work = call(controller.signal);
  // Settles after the deadline when the engine wakes up; nobody listens any more.
  work.catch(() => undefined);
  try {
    return await Promise.race([work, deadline]);
  } catch (error) {
    // The engine answering with an error (404, 409, …) stays as it was: callers branch on its status.
    if (isDaemonUnreachable(error)) throw toSandboxError(error, doing, engine);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
