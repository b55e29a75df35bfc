import { readFileSync } from 'node:fs';
import { fileError, usageError } from './cli-error.ts';
import {
  parseDuration,
  parseInstant,
  parseInteger,
  parseNumber,
  parsePairs,
  parseSize,
} from './flag-values.ts';

/** `omni submit`'s options as commander hands them over (repeatable ones as arrays). */
export interface SubmitFlags {
  readonly env?: readonly string[];
  readonly secret?: readonly string[];
  readonly label?: readonly string[];
  readonly input?: readonly string[];
  readonly output?: readonly string[];
  readonly file?: readonly string[];
  readonly inputDir?: readonly string[];
  readonly workdir?: string;
  readonly stdin?: string;
  readonly memory?: string;
  readonly cpus?: string;
  readonly pids?: string;
  readonly timeout?: string;
  readonly timeoutMs?: string;
  readonly priority?: string;
  readonly delay?: string;
  readonly runAt?: string;
  readonly expiresAt?: string;
  readonly queueTimeout?: string;
  readonly maxAttempts?: string;
  readonly retryOn?: string;
  readonly retryDelay?: string;
  readonly idempotencyKey?: string;
}

/** What the flags become: the body of POST /v1/jobs and the headers that go with it. */
export interface SubmitRequest {
  readonly body: Record<string, unknown>;
  readonly headers: Record<string, string>;
}

/** `ID:PATH` → `{ file, path }`: an uploaded file placed at PATH under /tmp. */
function parseInput(entry: string) {
  const at = entry.indexOf(':');
  if (at < 1) throw usageError(`--input ${entry}: expected FILE-ID:/tmp/PATH`);
  return { file: entry.slice(0, at), path: entry.slice(at + 1) };
}

/** `LOCAL:/tmp/PATH` → `{ path, content }`: a small local text file written under /tmp. */
function parseInlineFile(entry: string, read: (path: string) => string) {
  const at = entry.lastIndexOf(':/tmp/');
  if (at < 1) throw usageError(`--file ${entry}: expected LOCAL-FILE:/tmp/PATH`);
  return { path: entry.slice(at + 1), content: read(entry.slice(0, at)) };
}

const readText = (path: string): string => {
  try {
    return readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (error) {
    throw fileError(path === '-' ? 'stdin' : path, error);
  }
};

/**
 * Turns `omni submit`'s flags into the job spec the API takes, one flag per spec field. Only the
 * shape is checked here (numbers, sizes, pairs); the API bounds every value and names the field.
 */
export function submitRequest(
  image: string,
  command: readonly string[],
  flags: SubmitFlags,
  read: (path: string) => string = readText,
): SubmitRequest {
  if (command.length === 0) throw usageError('no command: omni submit IMAGE -- COMMAND [ARGS...]');
  if (flags.runAt !== undefined && flags.delay !== undefined)
    throw usageError('give --run-at or --delay, not both');
  if (flags.timeout !== undefined && flags.timeoutMs !== undefined)
    throw usageError('give --timeout or --timeout-ms, not both');
  const limits = {
    ...(flags.memory === undefined ? {} : { memoryBytes: parseSize('--memory', flags.memory) }),
    ...(flags.cpus === undefined ? {} : { cpus: parseNumber('--cpus', flags.cpus, 0.01, 64) }),
    ...(flags.pids === undefined ? {} : { pids: parseInteger('--pids', flags.pids, 1, 1_000_000) }),
  };
  const retry = {
    ...(flags.maxAttempts === undefined
      ? {}
      : { maxAttempts: parseInteger('--max-attempts', flags.maxAttempts, 1, 1000) }),
    ...(flags.retryDelay === undefined
      ? {}
      : { backoff: { initialMs: parseDuration('--retry-delay', flags.retryDelay) } }),
    ...(flags.retryOn === undefined ? {} : { on: flags.retryOn.split(',').filter(Boolean) }),
  };
  const timeoutMs =
    flags.timeout !== undefined
      ? parseDuration('--timeout', flags.timeout)
      : flags.timeoutMs !== undefined
        ? parseInteger('--timeout-ms', flags.timeoutMs, 1, Number.MAX_SAFE_INTEGER)
        : undefined;
  const optional = <T>(present: boolean, value: () => T) => (present ? value() : undefined);
  const body: Record<string, unknown> = {
    image,
    command,
    env: optional(Boolean(flags.env?.length), () => parsePairs('--env', flags.env ?? [])),
    secrets: optional(Boolean(flags.secret?.length), () => parsePairs('--secret', flags.secret ?? [])),
    labels: optional(Boolean(flags.label?.length), () => parsePairs('--label', flags.label ?? [])),
    inputs: optional(Boolean(flags.input?.length), () => (flags.input ?? []).map(parseInput)),
    files: optional(Boolean(flags.file?.length), () =>
      (flags.file ?? []).map((entry) => parseInlineFile(entry, read)),
    ),
    outputs: optional(Boolean(flags.output?.length), () => [...(flags.output ?? [])]),
    inputDirectories: optional(Boolean(flags.inputDir?.length), () => [...(flags.inputDir ?? [])]),
    workingDir: flags.workdir,
    stdin: optional(flags.stdin !== undefined, () => read(flags.stdin ?? '-')),
    limits: optional(Object.keys(limits).length > 0, () => limits),
    retry: optional(Object.keys(retry).length > 0, () => retry),
    timeoutMs,
    priority: optional(flags.priority !== undefined, () =>
      parseInteger('--priority', flags.priority ?? '', 0, 100),
    ),
    delayMs: optional(flags.delay !== undefined, () => parseDuration('--delay', flags.delay ?? '')),
    runAt: optional(flags.runAt !== undefined, () => parseInstant('--run-at', flags.runAt ?? '')),
    expiresAt: optional(flags.expiresAt !== undefined, () =>
      parseInstant('--expires-at', flags.expiresAt ?? ''),
    ),
    queueTimeoutMs: optional(flags.queueTimeout !== undefined, () =>
      parseDuration('--queue-timeout', flags.queueTimeout ?? ''),
    ),
  };
  for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
  return {
    body,
    headers: flags.idempotencyKey === undefined ? {} : { 'idempotency-key': flags.idempotencyKey },
  };
}
