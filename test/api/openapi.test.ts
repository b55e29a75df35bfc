import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { createEventStore } from '../../events/event-store.ts';
import { createApp } from '../../services/api/app.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { testPolicy } from '../support/test-policy.ts';
import { testTokenVerifier } from '../support/test-stack.ts';

let database: TestDatabase;
let app: ReturnType<typeof createApp>;

interface Operation {
  readonly security?: ReadonlyArray<Record<string, readonly string[]>>;
  readonly 'x-required-scope'?: string;
  readonly tags?: readonly string[];
  readonly summary?: string;
  readonly requestBody?: { content: Record<string, { schema?: unknown; example?: unknown }> };
  readonly responses: Record<string, { content?: Record<string, { schema?: unknown; example?: unknown }> }>;
}
interface Document {
  readonly openapi: string;
  readonly info: { title: string; version: string };
  readonly tags: ReadonlyArray<{ name: string }>;
  readonly components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
  readonly paths: Record<string, Record<string, Operation>>;
}
let document: Document;

beforeAll(async () => {
  database = await createTestDatabase('openapi');
  app = createApp({
    store: createEventStore(database.db),
    db: database.db,
    policy: testPolicy,
    verifyToken: testTokenVerifier,
    logger: pino({ level: 'silent' }),
    metricsText: async () => '',
    version: '9.9.9',
  });
  const response = await app.request('/openapi.json');
  expect(response.status).toBe(200);
  document = (await response.json()) as Document;
});
afterAll(() => database?.destroy());

const served = () =>
  [
    ...new Set(
      app.routes
        .filter((route) => route.method !== 'ALL')
        .map((route) => `${route.method.toLowerCase()} ${route.path.replace(/:(\w+)/g, '{$1}')}`),
    ),
  ]
    // Pages for people (the reference, the console and the redirect to it) are not API operations.
    .filter(
      (route) =>
        !route.includes('/docs') &&
        !route.endsWith('/openapi.json') &&
        !route.startsWith('get /console') &&
        route !== 'get /',
    )
    .sort();

const operations = () =>
  Object.entries(document.paths).flatMap(([path, byMethod]) =>
    Object.entries(byMethod).map(([method, operation]) => ({ path, method, operation })),
  );

describe('OpenAPI document', () => {
  it('is an OpenAPI 3.1 document of the version served, with a bearer scheme and tagged operations', () => {
    expect(document.openapi).toBe('3.1.0');
    expect(document.info).toMatchObject({ title: 'omni', version: '9.9.9' });
    expect(document.components.securitySchemes.bearer).toEqual({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
    });
    const tagNames = document.tags.map((tag) => tag.name);
    for (const { path, method, operation } of operations()) {
      expect(operation.summary, `${method} ${path}`).toBeTruthy();
      expect(operation.tags?.length, `${method} ${path}`).toBe(1);
      expect(tagNames, `${method} ${path}`).toContain(operation.tags?.[0]);
      expect(Object.keys(operation.responses).length, `${method} ${path}`).toBeGreaterThan(0);
    }
  });

  it('documents every route the app serves, and nothing it does not', () => {
    const documented = operations()
      .map(({ path, method }) => `${method} ${path}`)
      .sort();
    expect(documented).toEqual(served());
  });

  it('names the scope of every /v1 route (in security and x-required-scope), and no token for probes', () => {
    for (const { path, method, operation } of operations()) {
      const where = `${method} ${path}`;
      if (!path.startsWith('/v1/')) {
        expect(operation.security, where).toEqual([]);
        continue;
      }
      // /v1/me answers any valid token: a token, but no scope.
      if (path === '/v1/me') {
        expect(operation.security, where).toEqual([{ bearer: [] }]);
        continue;
      }
      const scope = operation['x-required-scope'];
      expect(scope, where).toMatch(/^(admin|[a-z]+:(read|write|submit|cancel))$/);
      expect(operation.security, where).toEqual([{ bearer: [scope] }]);
      if (path.startsWith('/v1/admin/') || path.startsWith('/v1/events')) expect(scope, where).toBe('admin');
    }
    expect(document.paths['/v1/jobs']?.post?.['x-required-scope']).toBe('jobs:submit');
    expect(document.paths['/v1/jobs/{id}/cancel']?.post?.['x-required-scope']).toBe('jobs:cancel');
  });

  it('refers only to schemas it names, and names the shapes clients share', () => {
    const text = JSON.stringify(document);
    for (const [, name] of text.matchAll(/"#\/components\/schemas\/([^"]+)"/g))
      expect(document.components.schemas, name).toHaveProperty(name as string);
    for (const name of [
      'Problem',
      'JobView',
      'JobAccepted',
      'JobSubmission',
      'FileView',
      'Schedule',
      'Webhook',
    ])
      expect(document.components.schemas, name).toHaveProperty(name);
    expect(document.paths['/v1/jobs']?.post?.requestBody?.content['application/json']?.schema).toEqual({
      $ref: '#/components/schemas/JobSubmission',
    });
    expect(document.components.schemas.JobSubmission).toMatchObject({
      properties: { image: { type: 'string' } },
    });
  });

  it('shows a real problem for every refusal: the status it is documented under, a stable code', () => {
    for (const { path, method, operation } of operations()) {
      for (const [status, response] of Object.entries(operation.responses)) {
        const problem = response.content?.['application/problem+json'];
        if (!problem) continue;
        expect(problem.schema, `${method} ${path} ${status}`).toEqual({
          $ref: '#/components/schemas/Problem',
        });
        expect(problem.example, `${method} ${path} ${status}`).toMatchObject({
          status: Number(status),
          code: expect.stringMatching(/^[a-z]+(-[a-z]+)*$/),
          type: expect.stringMatching(/^urn:omni:problem:/),
        });
      }
    }
  });

  it('has examples that validate against the schemas the routes validate and answer with', () => {
    let checked = 0;
    const check = (where: string, content: unknown) => {
      for (const [mediaType, media] of Object.entries(
        (content ?? {}) as Record<string, { schema?: unknown; example?: unknown }>,
      )) {
        const schema = media.schema as z.ZodType | undefined;
        if (media.example === undefined || typeof schema?.safeParse !== 'function') continue;
        const result = schema.safeParse(media.example);
        expect(result.error?.issues, `${where} ${mediaType}`).toBeUndefined();
        checked += 1;
      }
    };
    for (const definition of app.openAPIRegistry.definitions) {
      if (definition.type !== 'route') continue;
      const { method, path, request, responses } = definition.route;
      check(`${method} ${path} body`, request?.body?.content);
      for (const [status, response] of Object.entries(responses))
        check(`${method} ${path} ${status}`, 'content' in response ? response.content : undefined);
    }
    expect(checked).toBeGreaterThan(100);
  });

  it('serves an interactive reference at /docs with its assets, without any CDN', async () => {
    const page = await app.request('/docs');
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).not.toMatch(/https?:\/\//);
    for (const asset of [
      '/docs/assets/swagger-ui-bundle.js',
      '/docs/assets/swagger-ui.css',
      '/docs/assets/init.js',
    ]) {
      expect(html).toContain(asset);
      const response = await app.request(asset);
      expect(response.status, asset).toBe(200);
      expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(10);
    }
  });
});
