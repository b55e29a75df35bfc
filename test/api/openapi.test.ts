import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore } from '../../events/event-store.ts';
import { createApp } from '../../services/api/app.ts';
import { documentedOperations } from '../../services/api/openapi.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { testPolicy } from '../support/test-policy.ts';
import { testTokenVerifier } from '../support/test-stack.ts';

let database: TestDatabase;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  database = await createTestDatabase('openapi');
  app = createApp({
    store: createEventStore(database.db),
    db: database.db,
    policy: testPolicy,
    verifyToken: testTokenVerifier,
    logger: pino({ level: 'silent' }),
    metricsText: async () => '',
  });
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

describe('OpenAPI document', () => {
  it('documents every route the app serves, and nothing it does not', () => {
    const documented = documentedOperations
      .map((operation) => `${operation.method} ${operation.path}`)
      .sort();
    expect(documented).toEqual(served());
  });

  it('has examples that validate against the schemas the routes use', () => {
    for (const operation of documentedOperations) {
      if (operation.body)
        expect(
          () => operation.body?.schema.parse(operation.body.example),
          `${operation.path} body`,
        ).not.toThrow();
      if (operation.success.schema && operation.success.example !== undefined) {
        expect(
          () => operation.success.schema?.parse(operation.success.example),
          `${operation.path} response`,
        ).not.toThrow();
      }
    }
  });

  it('serves an OpenAPI 3.1 document at /openapi.json with each route’s scope', async () => {
    const response = await app.request('/openapi.json');
    expect(response.status).toBe(200);
    const document = (await response.json()) as {
      openapi: string;
      paths: Record<string, Record<string, { 'x-required-scope'?: string; requestBody?: unknown }>>;
    };
    expect(document.openapi).toBe('3.1.0');
    expect(document.paths['/v1/jobs']?.post?.['x-required-scope']).toBe('jobs:submit');
    expect(document.paths['/v1/jobs']?.post?.requestBody).toMatchObject({
      content: { 'application/json': { schema: { properties: { image: { type: 'string' } } } } },
    });
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
