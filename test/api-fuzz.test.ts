import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from './support/test-stack.ts';

let stack: TestStack;
let validToken: string;

beforeAll(async () => {
  stack = await startTestStack('fuzz', { withWorkers: false });
  validToken = await stack.token('fuzzer', { scopes: ['admin'] });
});
afterAll(() => stack?.stop());

const routes = [
  { method: 'POST', path: (_: string) => '/v1/jobs' },
  { method: 'GET', path: (segment: string) => `/v1/jobs/${segment}` },
  { method: 'GET', path: (segment: string) => `/v1/jobs/${segment}/events` },
  { method: 'GET', path: (_: string) => '/v1/secrets' },
  { method: 'PUT', path: (segment: string) => `/v1/secrets/${segment}` },
  { method: 'DELETE', path: (segment: string) => `/v1/jobs/${segment}` },
  { method: 'GET', path: (_: string) => '/healthz' },
];

const jsonish = fc.oneof(
  fc.json(),
  fc.string(),
  fc
    .record(
      {
        image: fc.oneof(fc.string(), fc.constant('omni-busybox:latest'), fc.integer()),
        command: fc.oneof(fc.array(fc.string()), fc.string(), fc.constant(null)),
      },
      { requiredKeys: [] },
    )
    .map((value) => JSON.stringify(value)),
  fc
    .record(
      {
        image: fc.constant('omni-busybox:latest'),
        command: fc.constant(['true']),
        limits: fc.anything(),
        env: fc.anything(),
        secrets: fc.anything(),
        timeoutMs: fc.anything(),
      },
      { requiredKeys: ['image', 'command'] },
    )
    .map((value) => JSON.stringify(value)),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
);

const authorization = fc.oneof(
  fc.constant(undefined),
  fc.constant('valid'),
  fc.string().map((value) => `Bearer ${value}`),
  fc.string(),
);

const contentType = fc.oneof(
  fc.constant('application/json'),
  fc.constant(undefined),
  fc.string(),
  fc.constant('text/plain'),
  fc.constant('application/json; charset=latin1'),
);

describe('every route under generated garbage', () => {
  it('never answers 5xx, never leaks a stack trace, and every error is problem+json', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        fc.oneof(
          fc.string(),
          fc.uuid(),
          fc.string({ unit: 'binary' }),
          fc.constant('..'),
          fc.constant('%00'),
        ),
        jsonish,
        authorization,
        contentType,
        async (route, segment, body, auth, type) => {
          const headers: Record<string, string> = {};
          if (auth !== undefined) headers.authorization = auth === 'valid' ? `Bearer ${validToken}` : auth;
          if (type !== undefined) headers['content-type'] = type;
          let url: string;
          try {
            url = route.path(encodeURIComponent(segment));
          } catch {
            url = route.path('x'); // a lone surrogate cannot be URI-encoded; a client could not send it either
          }
          const init: RequestInit = { method: route.method, headers };
          if (route.method !== 'GET') init.body = body;
          let response: Response;
          try {
            response = await stack.app.request(url, init);
          } catch (error) {
            // Header values the fetch API itself refuses never reach a server.
            if (error instanceof TypeError) return;
            throw error;
          }
          expect(response.status).toBeLessThan(500);
          if (response.status >= 400) {
            expect(response.headers.get('content-type')).toBe('application/problem+json');
            const text = await response.text();
            const problem = JSON.parse(text) as { code?: unknown; status?: unknown };
            expect(typeof problem.code).toBe('string');
            expect(problem.status).toBe(response.status);
            expect(text).not.toMatch(/\.ts:\d+|node_modules|\bselect\b.*\bfrom\b|syntax error at/i);
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});
