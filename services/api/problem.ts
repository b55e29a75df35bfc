import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** One field's complaint, with a JSON Pointer to it. */
export interface FieldError {
  readonly pointer: string;
  readonly detail: string;
}

/** An RFC 9457 problem; `code` is stable and clients may branch on it. */
export class ProblemError extends Error {
  readonly status: ContentfulStatusCode;
  readonly code: string;
  readonly title: string;
  readonly errors?: readonly FieldError[];
  readonly headers?: Readonly<Record<string, string>>;
  constructor(options: {
    status: ContentfulStatusCode;
    code: string;
    title: string;
    detail?: string;
    errors?: readonly FieldError[];
    headers?: Record<string, string>;
  }) {
    super(options.detail ?? options.title);
    this.name = 'ProblemError';
    this.status = options.status;
    this.code = options.code;
    this.title = options.title;
    if (options.errors) this.errors = options.errors;
    if (options.headers) this.headers = options.headers;
  }
}

/** The one shape of a 400: which fields are wrong and why, so a client can fix all at once. */
export function invalidRequest(detail: string, errors: readonly FieldError[]): ProblemError {
  return new ProblemError({
    status: 400,
    code: 'validation-failed',
    title: 'The request is invalid',
    detail,
    errors,
  });
}

/** Writes a problem as `application/problem+json`; the only way errors leave the API. */
export function problemResponse(c: Context, problem: ProblemError): Response {
  const body = {
    type: `urn:omni:problem:${problem.code}`,
    title: problem.title,
    status: problem.status,
    code: problem.code,
    detail: problem.message,
    instance: c.req.path,
    ...(c.get('requestId') ? { requestId: c.get('requestId') } : {}),
    ...(problem.errors ? { errors: problem.errors } : {}),
  };
  return c.body(JSON.stringify(body), problem.status, {
    'content-type': 'application/problem+json',
    ...problem.headers,
  });
}

/** Turns zod issues into field errors with JSON Pointers (`/limits/memoryBytes`). */
export function fieldErrors(
  issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string; keys?: readonly string[] }>,
): FieldError[] {
  const pointer = (path: ReadonlyArray<PropertyKey>) =>
    `/${path.map((segment) => String(segment).replaceAll('~', '~0').replaceAll('/', '~1')).join('/')}`;
  // An unknown key is reported at the key itself, not at its parent object.
  return issues.flatMap((issue) =>
    issue.keys && issue.keys.length > 0
      ? issue.keys.map((key) => ({ pointer: pointer([...issue.path, key]), detail: 'unknown field' }))
      : [{ pointer: pointer(issue.path), detail: issue.message }],
  );
}
