import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiDocument } from '../../services/api/api-document.ts';
import { testImage } from '../support/test-image.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

let stack: TestStack;
let adminToken: string;
let userToken: string;
let jobId: string;
let requests = 0;

beforeAll(async () => {
  stack = await startTestStack('fuzz', { withWorkers: false });
  adminToken = await stack.token('fuzzer', { scopes: ['admin'] });
  userToken = await stack.token('fuzz-user');
  // A real job, so the per-job routes reach their handlers (cancel, retry, output, at) and not just 404.
  const response = await stack.app.request('/v1/jobs', {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      image: testImage,
      command: ['true'],
      runAt: new Date(Date.now() + 3600_000).toISOString(),
    }),
  });
  jobId = ((await response.json()) as { id: string }).id;
});
afterAll(async () => {
  console.log(`api fuzz: ${requests} requests sent`);
  await stack?.stop();
});

/** Every documented route, plus the ones the document leaves out; `{param}` is filled by the fuzzer. */
const routes = [
  ...Object.entries(apiDocument().paths ?? {}).flatMap(([path, operations]) =>
    Object.keys(operations ?? {}).map((method) => ({ method: method.toUpperCase(), path })),
  ),
  { method: 'DELETE', path: '/v1/jobs/{id}' },
  { method: 'GET', path: '/v1/admin/verify/runs/{id}' },
  { method: 'GET', path: '/openapi.json' },
  { method: 'GET', path: '/docs/assets/{file}' },
  { method: 'PUT', path: '/v1/secrets/{name}' },
  { method: 'DELETE', path: '/v1/secrets/{name}' },
];

// What hostile tenants send: text Postgres cannot store, numbers past every bound, dates at and past
// the edges of what Postgres, JS Date and the events' read schemas accept.
const hostileText = fc.constantFrom(
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff',
  'x\udc00y',
  '\ud83d',
  'NaN',
  'Infinity',
  '-Infinity',
  '1e308',
  '1e999',
  '-0',
  '',
  ' ',
  '../../etc/passwd',
  '%00',
  "'; drop table events; --",
);
const hostileDate = fc.constantFrom(
  '0000-01-01T00:00:00Z',
  '0001-01-01T00:00:00Z',
  '1999-12-31T23:59:59Z',
  '2000-01-01T00:00:00+14:00',
  '2026-06-01T12:00:00-14:00',
  '2026-06-01T12:00:00+14:01',
  '2026-06-01T12:00:00-23:59',
  '2026-02-30T00:00:00Z',
  '2026-01-01T24:00:00Z',
  '9999-12-31T23:59:59Z',
  '9999-12-31T23:59:59-14:00',
  '9999-12-31T23:59:59+14:00',
  '+010000-01-01T00:00:00Z',
  '-000001-01-01T00:00:00Z',
  '+275760-09-13T00:00:00Z',
);
const hostileNumber = fc.constantFrom(
  0,
  -0,
  -1,
  1,
  0.5,
  1e308,
  -1e308,
  2 ** 31,
  2 ** 53,
  Number.MAX_SAFE_INTEGER,
  2.5e14,
  8.64e15,
  8.64e15 + 1,
  9.3e15,
  5e-324,
);
const hostileScalar = fc.oneof(
  { weight: 3, arbitrary: hostileText },
  { weight: 3, arbitrary: hostileDate },
  { weight: 3, arbitrary: hostileNumber },
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.integer(),
  fc.double(),
  fc.constant(null),
  fc.boolean(),
);
const hostileValue = fc.oneof(
  { weight: 4, arbitrary: hostileScalar },
  { weight: 1, arbitrary: fc.array(hostileScalar, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.oneof(hostileText, fc.string()), hostileScalar, { maxKeys: 3 }) },
);

/** A job spec that is valid but for a few fields set to hostile values, nested ones included. */
const jobFields: readonly (readonly string[])[] = [
  ['image'],
  ['command'],
  ['command', '0'],
  ['command', '1'],
  ['env'],
  ['env', 'GREETING'],
  ['secrets'],
  ['stdin'],
  ['files'],
  ['files', '0', 'content'],
  ['files', '0', 'path'],
  ['files', '0', 'mode'],
  ['inputs'],
  ['outputs'],
  ['timeoutMs'],
  ['queueTimeoutMs'],
  ['priority'],
  ['runAt'],
  ['delayMs'],
  ['expiresAt'],
  ['limits', 'memoryBytes'],
  ['limits', 'cpus'],
  ['limits', 'pids'],
  ['retry', 'maxAttempts'],
  ['retry', 'backoff', 'initialMs'],
  ['retry', 'backoff', 'maxMs'],
  ['retry', 'backoff', 'multiplier'],
  ['retry', 'backoff', 'jitter'],
  ['retry', 'on'],
];
const hostileSpec = fc
  // Mostly one hostile field in an otherwise valid spec: several at once mostly hide each other.
  .oneof(
    {
      weight: 3,
      arbitrary: fc.tuple(fc.constantFrom(...jobFields), hostileValue).map((override) => [override]),
    },
    {
      weight: 1,
      arbitrary: fc.array(fc.tuple(fc.constantFrom(...jobFields), hostileValue), { maxLength: 3 }),
    },
  )
  .map((overrides) => {
    const spec: Record<string, unknown> = {
      image: testImage,
      command: ['echo', 'hi'],
      env: { GREETING: 'hello' },
      files: [{ path: '/tmp/in.txt', content: 'x' }],
      limits: {},
      retry: { backoff: {} },
    };
    for (const [path, value] of overrides) {
      let target = spec;
      for (const key of path.slice(0, -1)) {
        const next = target[key];
        if (next === null || typeof next !== 'object') target[key] = {};
        target = target[key] as Record<string, unknown>;
      }
      target[path.at(-1) as string] = value;
    }
    return JSON.stringify(spec);
  });

const body = fc.oneof(
  { weight: 4, arbitrary: hostileSpec },
  { weight: 1, arbitrary: hostileValue.map((value) => JSON.stringify({ reason: value, value })) },
  { weight: 1, arbitrary: fc.json() },
  // Numbers JSON.stringify cannot write: 1e999 parses to Infinity.
  {
    weight: 1,
    arbitrary: fc.constantFrom('{"timeoutMs":1e999}', '{"priority":-0}', '{"queueTimeoutMs":1e308}'),
  },
  {
    weight: 1,
    arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
  },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

/** A path segment as a client could send it; a lone surrogate travels as its WTF-8 bytes. */
const encode = (value: string) =>
  value.isWellFormed()
    ? encodeURIComponent(value)
    : [...value]
        .map((char) =>
          char.isWellFormed()
            ? encodeURIComponent(char)
            : `%ED%${(0xa0 + ((char.charCodeAt(0) >> 6) & 0x1f)).toString(16)}%${(0x80 + (char.charCodeAt(0) & 0x3f)).toString(16)}`,
        )
        .join('');

const segment = fc.oneof(
  fc.constant('<job>'),
  fc.uuid(),
  hostileText,
  hostileNumber.map(String),
  fc.string(),
  fc.string({ unit: 'binary' }),
);

const queryNames = [
  'after',
  'from',
  'to',
  'limit',
  'type',
  'stream',
  'status',
  'image',
  'submittedBy',
  'submittedAfter',
  'submittedBefore',
  'tenant',
  'cursor',
  'follow',
  'before',
  'name',
  'since',
  'unknown',
];
const query = fc
  .array(fc.tuple(fc.constantFrom(...queryNames), fc.oneof(hostileScalar.map(String), hostileDate)), {
    maxLength: 3,
  })
  .map((pairs) => (pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${k}=${encode(v)}`).join('&')}`));

const authorization = fc.oneof(
  { weight: 3, arbitrary: fc.constant('admin') },
  { weight: 2, arbitrary: fc.constant('user') },
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.string().map((value) => `Bearer ${value}`) },
);
const contentType = fc.oneof(
  { weight: 4, arbitrary: fc.constant('application/json') },
  { weight: 1, arbitrary: fc.constantFrom(undefined, 'text/plain', 'application/json; charset=latin1') },
  { weight: 1, arbitrary: fc.string() },
);
const idempotencyKey = fc.oneof(
  { weight: 6, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.oneof(hostileText, fc.string()) },
);

describe('every route under hostile input', () => {
  it('never answers 5xx, never leaks a stack trace, and every error is problem+json', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        segment,
        query,
        body,
        authorization,
        contentType,
        idempotencyKey,
        async (route, rawSegment, search, payload, auth, type, key) => {
          const headers: Record<string, string> = {};
          if (auth === 'admin') headers.authorization = `Bearer ${adminToken}`;
          else if (auth === 'user') headers.authorization = `Bearer ${userToken}`;
          else if (auth !== undefined) headers.authorization = auth;
          if (type !== undefined) headers['content-type'] = type;
          if (key !== undefined) headers['idempotency-key'] = key;
          const filled = rawSegment === '<job>' ? jobId : encode(rawSegment);
          const url = `${route.path.replace(/\{\w+\}/g, filled)}${search}`;
          const init: RequestInit = { method: route.method, headers };
          if (route.method !== 'GET' && payload !== undefined) init.body = payload;
          let response: Response;
          try {
            response = await stack.app.request(url, init);
          } catch (error) {
            // Header values the fetch API itself refuses never reach a server.
            if (error instanceof TypeError) return;
            throw error;
          }
          requests += 1;
          // A live feed never ends by itself: cancelling it is what a client leaving does.
          const live = response.headers.get('content-type')?.startsWith('text/event-stream') === true;
          if (live) await response.body?.cancel();
          const text = live ? '' : await response.text();
          expect({
            url,
            method: route.method,
            status: response.status,
            text: text.slice(0, 300),
          }).toMatchObject({
            status: expect.toSatisfy((status: number) => status < 500),
          });
          // An accepted job must stay readable: a poison value would show here as a 5xx.
          if (route.method === 'POST' && route.path === '/v1/jobs' && response.status === 202) {
            const { id } = JSON.parse(text) as { id: string };
            for (const path of [`/v1/jobs/${id}`, `/v1/jobs/${id}/events`]) {
              const read = await stack.app.request(path, {
                headers: { authorization: `Bearer ${adminToken}` },
              });
              requests += 1;
              expect({ path, status: read.status, text: (await read.text()).slice(0, 300) }).toMatchObject({
                status: 200,
              });
            }
          }
          if (response.status >= 400) {
            expect(response.headers.get('content-type')).toBe('application/problem+json');
            const problem = JSON.parse(text) as { code?: unknown; status?: unknown };
            expect(typeof problem.code).toBe('string');
            expect(problem.status).toBe(response.status);
            expect(text).not.toMatch(/\.ts:\d+|node_modules|\bselect\b.*\bfrom\b|syntax error at/i);
          }
        },
      ),
      // Some runs build headers fetch itself refuses and send nothing: ask for enough to send 10,000.
      { numRuns: 10_600 },
    );
    expect(requests).toBeGreaterThanOrEqual(10_000);
  }, 600_000);
});
