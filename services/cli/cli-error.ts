import { exitCodes } from './exit-codes.ts';

/** One complaint about a field, as the API's problem+json names it (a JSON Pointer and why). */
export interface FieldComplaint {
  readonly pointer: string;
  readonly detail: string;
}

/** An RFC 9457 problem: what the API answers with, and the shape local errors take with --json. */
export interface Problem {
  readonly type?: string;
  readonly title: string;
  readonly status?: number;
  readonly code: string;
  readonly detail?: string;
  readonly errors?: readonly FieldComplaint[];
  readonly [extension: string]: unknown;
}

/**
 * Every failure the CLI reports on purpose: a problem (printed as one line, or as JSON with
 * --json) and the exit code it ends with. Anything else is a defect and prints its stack.
 */
export class CliError extends Error {
  readonly problem: Problem;
  readonly exitCode: number;
  constructor(problem: Problem, exitCode: number) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title);
    this.name = 'CliError';
    this.problem = problem;
    this.exitCode = exitCode;
  }
}

/** A wrong command line: exit 2. */
export const usageError = (detail: string, errors?: readonly FieldComplaint[]): CliError =>
  new CliError(
    { title: 'invalid usage', code: 'usage', detail, ...(errors ? { errors } : {}) },
    exitCodes.usage,
  );

/** The exit code an API problem ends the CLI with, by HTTP status. */
export function exitCodeForStatus(status: number): number {
  if (status === 400 || status === 422) return exitCodes.usage;
  if (status === 401 || status === 403 || status === 404 || status === 409 || status === 410)
    return exitCodes.refused;
  return exitCodes.failure;
}

/** The API answered with an error: its problem+json as it came, or one made from the status. */
export function apiProblemError(status: number, body: unknown): CliError {
  const given = body as Partial<Problem> | undefined;
  const problem: Problem =
    given && typeof given === 'object' && typeof given.title === 'string'
      ? { ...given, title: given.title, code: typeof given.code === 'string' ? given.code : `http-${status}` }
      : { title: `the API answered ${status}`, status, code: `http-${status}` };
  return new CliError(problem, exitCodeForStatus(status));
}

// Node's fetch hides the reason in `cause`; these are the ones a person can act on.
const networkReasons: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_CONNECT_TIMEOUT: 'timed out connecting',
  UND_ERR_SOCKET: 'the connection closed',
};

/** Why a fetch failed, in words: `connection refused` rather than `TypeError: fetch failed`. */
export function networkReason(error: unknown): string {
  let cause: unknown = error;
  for (let depth = 0; depth < 4 && cause; depth += 1) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && networkReasons[code]) return networkReasons[code];
    const errors = (cause as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.length > 0) cause = errors[0];
    else cause = (cause as { cause?: unknown }).cause;
  }
  return error instanceof Error && error.cause instanceof Error ? error.cause.message : 'the request failed';
}

/** The API could not be reached at all: exit 4. */
export const unreachableError = (url: string, error: unknown): CliError =>
  new CliError(
    { title: `cannot reach ${url}`, code: 'api-unreachable', detail: networkReason(error) },
    exitCodes.unreachable,
  );

/** `omni: <title>: <detail> (<pointer>: <detail>, …)`: one line, whatever the problem carries. */
export function formatProblemLine(problem: Problem): string {
  const detail = problem.detail && problem.detail !== problem.title ? `: ${problem.detail}` : '';
  const fields = (problem.errors ?? []).map((error) => `${error.pointer || '/'}: ${error.detail}`);
  const line = `omni: ${problem.title}${detail}${fields.length > 0 ? ` (${fields.join(', ')})` : ''}`;
  // One line, even when a detail quotes a multi-line message.
  return line.replace(/\s*[\r\n]+\s*/g, ' ');
}

/** A file named on the command line that cannot be read or used: exit 2, naming it and why. */
export function fileError(path: string, error: unknown): CliError {
  const code = (error as { code?: unknown }).code;
  const why =
    code === 'ENOENT'
      ? 'no such file'
      : code === 'EACCES'
        ? 'permission denied'
        : code === 'EISDIR'
          ? 'a directory, not a file'
          : error instanceof Error
            ? error.message
            : String(error);
  return usageError(`${path}: ${why}`);
}
