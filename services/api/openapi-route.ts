import { OpenAPIHono } from '@hono/zod-openapi';
import type { Env } from 'hono';
import { z } from 'zod';
import { problemSchema } from '../../schemas/api.schema.ts';
import { requireScope } from './bearer-auth.middleware.ts';
import type { Scope } from './token-verifier.ts';
import { validationHook } from './validation-hook.ts';

// The pieces every route definition is built from, so each route file says only what is its own:
// its schemas, its scope, its examples. The document and the validation come from the same objects.

/** A resource's routes: validated by the one hook (problem+json 400 with field pointers), documented as they are added. */
export const openApiRoutes = <E extends Env>() => new OpenAPIHono<E>({ defaultHook: validationHook });

/** What the route needs the bearer token to grant: enforced by the middleware, shown in the document. */
export const scoped = (scope: Scope) => ({
  security: [{ bearer: [scope] }],
  'x-required-scope': scope,
  middleware: requireScope(scope),
});

/** A route anyone may call (probes, metrics): no token. */
export const unauthenticated = { security: [] };

const problemTitles = {
  400: 'Invalid request',
  401: 'Missing or invalid bearer token',
  403: 'Missing scope',
  404: 'Not found (or another tenant’s)',
  409: 'Conflict with the current state',
  410: 'Recorded, but the bytes are gone',
  413: 'Body too large',
  415: 'The body is not of a media type this route takes',
  429: 'Rate limited (see Retry-After)',
  503: 'Unavailable',
} as const;

type ProblemStatus = keyof typeof problemTitles;

// One real answer per status, so the reference shows what a client will meet (not a generated
// placeholder such as status -9007199254740991).
const problemExamples: Record<ProblemStatus, Omit<z.input<typeof problemSchema>, 'type' | 'instance'>> = {
  400: {
    title: 'The request is invalid',
    status: 400,
    code: 'validation-failed',
    detail: 'one or more fields are invalid',
    errors: [{ pointer: '/limits/memoryBytes', detail: 'Too big: expected number to be <=536870912' }],
  },
  401: {
    title: 'Authentication required',
    status: 401,
    code: 'unauthorized',
    detail: 'a bearer token is required',
  },
  403: {
    title: 'Missing scope',
    status: 403,
    code: 'insufficient-scope',
    detail: 'this requires the jobs:submit scope',
  },
  404: { title: 'No such job', status: 404, code: 'job-not-found', detail: 'No such job' },
  409: {
    title: 'Refused by the job',
    status: 409,
    code: 'job-not-retryable',
    detail: 'a running job cannot be re-run; only failed, cancelled or expired ones',
  },
  410: {
    title: 'The file is recorded but its bytes are gone',
    status: 410,
    code: 'file-content-gone',
    detail: 'The file is recorded but its bytes are gone',
  },
  413: {
    title: 'The request body is too large',
    status: 413,
    code: 'payload-too-large',
    detail: 'The request body is too large',
  },
  415: {
    title: 'Unsupported Media Type',
    status: 415,
    code: 'unsupported-media-type',
    detail: 'Unsupported Media Type',
  },
  429: {
    title: 'Too many requests',
    status: 429,
    code: 'rate-limited',
    detail: 'retry after 3 s',
  },
  503: {
    title: 'Database unavailable',
    status: 503,
    code: 'database-unavailable',
    detail: 'the event store cannot be reached right now; retry after the indicated delay',
  },
};

const problemResponse = (status: ProblemStatus) => ({
  description: problemTitles[status],
  content: {
    'application/problem+json': {
      schema: problemSchema,
      example: {
        type: `urn:omni:problem:${problemExamples[status].code}`,
        ...problemExamples[status],
        instance: '/v1/jobs',
        requestId: '5f0c1a7e-8d2b-4c3e-9f1a-2b3c4d5e6f70',
      },
    },
  },
});

/** The problem+json answers a route may give, each with its title and an example. */
export function problems<const S extends readonly ProblemStatus[]>(
  ...statuses: S
): { [K in S[number]]: ReturnType<typeof problemResponse> } {
  return Object.fromEntries(statuses.map((status) => [status, problemResponse(status)])) as {
    [K in S[number]]: ReturnType<typeof problemResponse>;
  };
}

/**
 * What a handler may answer for a schema: the domain's views hold readonly arrays, and a loose
 * object's extra keys are its own business (the document says they may come).
 */
type ReadonlyDeep<T> = T extends readonly (infer U)[]
  ? readonly ReadonlyDeep<U>[]
  : T extends object
    ? { readonly [K in keyof T as string extends K ? never : K]: ReadonlyDeep<T[K]> }
    : T;

/** A JSON answer: its schema and an example that must parse with it (test/api/openapi.test.ts checks). */
export const jsonResponse = <T extends z.ZodType>(description: string, schema: T, example?: z.input<T>) => ({
  description,
  content: {
    'application/json': {
      schema: schema as unknown as z.ZodType<ReadonlyDeep<z.output<T>>>,
      ...(example === undefined ? {} : { example }),
    },
  },
});

/** A required JSON body; an absent or non-JSON body is refused (415), never taken for `{}`. */
export const jsonBody = <T extends z.ZodType>(schema: T, example?: z.input<T>) => ({
  required: true,
  content: { 'application/json': { schema, ...(example === undefined ? {} : { example }) } },
});

/** A Server-Sent Events answer; `description` says which events come and what their data holds. */
export const eventStreamContent = (description: string) => ({
  'text/event-stream': { schema: z.string().meta({ description }) },
});
