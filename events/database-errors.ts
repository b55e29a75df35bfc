/**
 * Whether an error means Postgres could not be reached or dropped the connection (a restart, an
 * outage, a terminated session), as opposed to a statement it refused. Callers treat the first as
 * a passing fault of the infrastructure (retry, 503, no attempt spent) and the second as a bug or
 * a refusal; so the test errs on the side of "not unavailable".
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const seen = new Set<unknown>();
  const visit = (candidate: unknown): boolean => {
    if (typeof candidate !== 'object' || candidate === null || seen.has(candidate)) return false;
    seen.add(candidate);
    const { code, message, cause, errors } = candidate as {
      code?: unknown;
      message?: unknown;
      cause?: unknown;
      errors?: unknown;
    };
    if (typeof code === 'string' && (socketCodes.has(code) || isUnavailableSqlState(code, message)))
      return true;
    if (typeof message === 'string' && lostConnectionMessages.some((pattern) => pattern.test(message)))
      return true;
    // A failed connect to several addresses (localhost: ::1 and 127.0.0.1) is an AggregateError.
    if (Array.isArray(errors) && errors.some(visit)) return true;
    return visit(cause);
  };
  return visit(error);
}

// The socket never opened or broke: the server is down, restarting, or the network is.
const socketCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

function isUnavailableSqlState(code: string, message: unknown): boolean {
  // 08: connection exception. 57P01 admin shutdown (pg_ctl stop/restart, pg_terminate_backend),
  // 57P02 crash shutdown, 57P03 cannot connect now (starting up, recovering).
  if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03') return true;
  // 53300 too many connections: the server is there but takes no one new; wait like for a restart.
  if (code === '53300') return true;
  // 55000 is a broad class; only "database … is not currently accepting connections" is an outage.
  return (
    code === '55000' && typeof message === 'string' && /not currently accepting connections/.test(message)
  );
}

// node-postgres reports a dropped socket with these messages and no code.
const lostConnectionMessages = [
  /^Connection terminated/,
  /Client has encountered a connection error and is not queryable/,
  /timeout exceeded when trying to connect/,
  /^Connection terminated due to connection timeout/,
];
