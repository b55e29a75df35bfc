import type { ErrorHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from 'pino';
import { isDatabaseUnavailable } from '../../events/database-errors.ts';
import { ConcurrencyError } from '../../events/event-store-errors.ts';
import { JobDomainError } from '../../jobs/job-domain-error.ts';
import { createLogThrottle } from '../logger.ts';
import { isRedisUnavailable } from '../redis-errors.ts';
import { isClientAbort } from './client-abort.ts';
import { ProblemError, problemResponse } from './problem.ts';
import { unreadableEventProblem } from './unreadable-problem.ts';

const domainStatus = {
  'job-exists': 409,
  'job-not-found': 404,
  'attempt-not-startable': 409,
  'attempt-not-running': 409,
  'job-finished': 409,
  'job-not-retryable': 409,
} as const;

// A Postgres or Redis restart takes a few seconds; sooner would only add load while it comes back.
const databaseRetryAfterSeconds = 2;

// Logged once per few seconds while the outage lasts, saying what to check.
const outageMessages: Readonly<Record<string, string>> = {
  'database-unavailable':
    'database unreachable: answering 503; check that Postgres is up and DATABASE_URL points at it',
  'rate-limiter-unavailable':
    'Redis unreachable: answering 503 (request limits live there); check that Redis is up and REDIS_URL points at it',
};

const clientClosedRequest = new ProblemError({
  status: 499 as ContentfulStatusCode,
  code: 'client-closed-request',
  title: 'The client closed the connection before the request was read',
});

function toProblem(error: unknown): ProblemError | undefined {
  if (error instanceof ProblemError) return error;
  const unreadable = unreadableEventProblem(error);
  if (unreadable) return unreadable;
  if (error instanceof JobDomainError) {
    return new ProblemError({
      status: domainStatus[error.code],
      code: error.code,
      title: 'Refused by the job',
      detail: error.message,
    });
  }
  if (error instanceof ConcurrencyError) {
    return new ProblemError({
      status: 409,
      code: error.code,
      title: 'Concurrent change',
      detail: 'the job changed meanwhile; retry',
    });
  }
  if (isDatabaseUnavailable(error)) {
    // An outage or restart of Postgres, not a fault of the request: the client may send it again.
    return new ProblemError({
      status: 503,
      code: 'database-unavailable',
      title: 'Database unavailable',
      detail: 'the event store cannot be reached right now; retry after the indicated delay',
      headers: { 'retry-after': String(databaseRetryAfterSeconds) },
    });
  }
  if (isRedisUnavailable(error)) {
    // The request limits live in Redis; without them the API refuses rather than admit unmetered.
    return new ProblemError({
      status: 503,
      code: 'rate-limiter-unavailable',
      title: 'Request limits unavailable',
      detail: 'request limits cannot be checked right now; retry after the indicated delay',
      headers: { 'retry-after': String(databaseRetryAfterSeconds) },
    });
  }
  if (error instanceof HTTPException) {
    // Hono raises these for malformed bodies and oversized requests; its message is safe to show.
    const status = error.status;
    const codes: Partial<Record<number, string>> = {
      400: 'malformed-request',
      413: 'payload-too-large',
      // A JSON route sent another media type (or a body without one): the route validation refuses it.
      415: 'unsupported-media-type',
    };
    const code = codes[status] ?? 'http-error';
    return new ProblemError({ status, code, title: error.message || 'Request refused' });
  }
  return undefined;
}

/** The one place errors become responses: known errors keep their code, the rest are a bare 500. */
export function createErrorHandler(logger: Logger): ErrorHandler {
  const throttle = createLogThrottle();
  return (error, c) => {
    if (isClientAbort(error, c)) {
      // Not our fault and nobody left to answer: no stack, and 499 (nginx's "client closed
      // request") keeps it out of the 5xx counts and error spans.
      logger.info(
        { requestId: c.get('requestId'), method: c.req.method, path: c.req.path },
        'client closed the connection before the body was read',
      );
      return problemResponse(c, clientClosedRequest);
    }
    const problem = toProblem(error);
    const outage = problem ? outageMessages[problem.code] : undefined;
    if (outage) {
      const held = throttle.allow(outage);
      if (held !== undefined) logger.warn({ err: error, path: c.req.path, alsoRefused: held }, outage);
    }
    if (problem) return problemResponse(c, problem);
    // The client gets an id to quote, never the stack or the SQL; the log keeps both.
    logger.error({ err: error, requestId: c.get('requestId'), path: c.req.path }, 'unhandled error');
    return problemResponse(
      c,
      new ProblemError({
        status: 500,
        code: 'internal-error',
        title: 'Internal error',
        detail: 'an unexpected error occurred; quote the request id',
      }),
    );
  };
}
