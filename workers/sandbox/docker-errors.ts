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

/** The HTTP status of an engine API error (docker-modem sets `statusCode`), if any. */
export function dockerStatusCode(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** True when the engine could not be reached at all, as opposed to answering with an error. */
export function isDaemonUnreachable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && unreachableCodes.has(code);
}

/** Wraps an engine failure as a typed SandboxError, keeping the original as `cause`. */
export function toSandboxError(error: unknown, doing: string): SandboxError {
  if (error instanceof SandboxError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  if (isDaemonUnreachable(error)) {
    return new SandboxError('daemon-unavailable', `Docker engine unreachable while ${doing}: ${detail}`, {
      cause: error,
    });
  }
  return new SandboxError('sandbox-failure', `Docker failed while ${doing}: ${detail}`, { cause: error });
}
