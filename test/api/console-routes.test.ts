import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore } from '../../events/event-store.ts';
import { createApp } from '../../services/api/app.ts';
import { consoleContentSecurityPolicy } from '../../services/api/console.routes.ts';
import { eventually } from '../support/eventually.ts';
import { testImage } from '../support/test-image.ts';
import { testPolicy } from '../support/test-policy.ts';
import { startTestStack, type TestStack, testTokenVerifier } from '../support/test-stack.ts';

let stack: TestStack;
let built: string;

beforeAll(async () => {
  stack = await startTestStack('console-routes', { withWorkers: false });
  built = await mkdtemp(join(tmpdir(), 'omni-console-'));
  await mkdir(join(built, 'assets'));
  await writeFile(join(built, 'index.html'), '<!doctype html><div id="app"></div>');
  await writeFile(join(built, 'assets', 'index-abc123.js'), 'console.log(1)');
});
afterAll(async () => {
  await rm(built, { recursive: true, force: true });
  await stack?.stop();
});

const appWithConsoleAt = (consoleAssetsDirectory: string) =>
  createApp({
    store: createEventStore(stack.database.db),
    policy: testPolicy,
    verifyToken: testTokenVerifier,
    logger: pino({ level: 'silent' }),
    consoleAssetsDirectory,
  });

describe('the console pages', () => {
  it('redirects / to the console', async () => {
    const response = await stack.app.request('/');
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('/console');
  });

  it('answers index.html for every deep link, under a CSP that allows no inline script', async () => {
    const app = appWithConsoleAt(built);
    for (const path of [
      '/console',
      '/console/',
      '/console/jobs',
      '/console/jobs/8f0c?status=failed',
      '/console/health',
    ]) {
      const response = await app.request(path);
      expect(response.status, path).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await response.text()).toContain('<div id="app">');
      const csp = response.headers.get('content-security-policy') ?? '';
      expect(csp).toBe(consoleContentSecurityPolicy);
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
    }
  });

  it('serves built assets by name and refuses names outside the assets folder', async () => {
    const app = appWithConsoleAt(built);
    const script = await app.request('/console/assets/index-abc123.js');
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await script.text()).toBe('console.log(1)');
    expect((await app.request('/console/assets/missing-1.js')).status).toBe(404);
    expect((await app.request('/console/assets/..%2Findex.html')).status).toBe(404);
    expect((await app.request('/console/assets/index-abc123.exe')).status).toBe(404);
  });

  it('says the console was not built, as a 503 problem, when its files are missing', async () => {
    const app = appWithConsoleAt(join(built, 'nothing-here'));
    for (const path of ['/console/jobs', '/console/assets/index-abc123.js']) {
      const response = await app.request(path);
      expect(response.status, path).toBe(503);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      const problem = (await response.json()) as { code: string; detail: string };
      expect(problem.code).toBe('console-not-built');
      expect(problem.detail).toContain('npm run build:console');
    }
  });
});

describe('what the console reads', () => {
  it('GET /v1/me answers the verified subject, tenant and scopes', async () => {
    const token = await stack.token('ops-ann', { tenant: 'acme', scopes: ['jobs:read', 'events:read'] });
    const response = await stack.app.request('/v1/me', { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      subject: 'ops-ann',
      tenant: 'acme',
      scopes: ['events:read', 'jobs:read'],
    });
    expect((await stack.app.request('/v1/me')).status).toBe(401);
  });

  it("GET /v1/jobs/counts counts the tenant's jobs per status, and queue health sees them per tenant", async () => {
    const submit = async (tenant: string) => {
      const token = await stack.token('submitter', { tenant });
      const response = await stack.app.request('/v1/jobs', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ image: testImage, command: ['true'] }),
      });
      expect(response.status).toBe(202);
    };
    await submit('counted');
    await submit('counted');
    await submit('elsewhere');
    const reader = { authorization: `Bearer ${await stack.token('reader', { tenant: 'counted' })}` };
    const counts = await eventually(
      async () =>
        (await (await stack.app.request('/v1/jobs/counts', { headers: reader })).json()) as {
          counts: Record<string, number>;
          total: number;
        },
      (body) => body.total === 2,
    );
    expect(counts).toEqual({
      counts: { queued: 2, running: 0, succeeded: 0, failed: 0, cancelled: 0, expired: 0 },
      total: 2,
    });
    const otherImage = await stack.app.request('/v1/jobs/counts?image=other:latest', { headers: reader });
    expect(((await otherImage.json()) as { total: number }).total).toBe(0);

    const admin = { authorization: `Bearer ${await stack.token('root', { scopes: ['admin'] })}` };
    const health = await eventually(
      async () =>
        (await (await stack.app.request('/v1/admin/queue-health', { headers: admin })).json()) as {
          tenants: { tenant: string; queued: number; running: number }[];
        },
      (body) => body.tenants.some((tenant) => tenant.tenant === 'elsewhere'),
    );
    expect(health.tenants).toEqual(
      expect.arrayContaining([
        { tenant: 'counted', queued: 2, running: 0 },
        { tenant: 'elsewhere', queued: 1, running: 0 },
      ]),
    );
    expect((await stack.app.request('/v1/admin/queue-health', { headers: reader })).status).toBe(403);
  });
});
