import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore } from '../../events/event-store.ts';
import { createApp } from '../../services/api/app.ts';
import { consoleContentSecurityPolicy } from '../../services/api/console.routes.ts';
import type { QueueHealth } from '../../services/api/queue-health.routes.ts';
import { createWorkerLeases } from '../../workers/lifecycle/worker-leases.ts';
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
          tenants: { tenant: string; queued: number; running: number; cap: number | null }[];
        },
      (body) => body.tenants.some((tenant) => tenant.tenant === 'elsewhere'),
    );
    expect(health.tenants).toEqual(
      expect.arrayContaining([
        // The cap is the deployment's TENANT_MAX_RUNNING (the test stack's: 8), as composeApi passes it.
        { tenant: 'counted', queued: 2, running: 0, cap: 8 },
        { tenant: 'elsewhere', queued: 1, running: 0, cap: 8 },
      ]),
    );
    expect((await stack.app.request('/v1/admin/queue-health', { headers: reader })).status).toBe(403);
  });
});

describe("a job's history verified", () => {
  const submitAndCancel = async (tenant: string) => {
    const token = await stack.token('verifier', { tenant });
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const submitted = await stack.app.request('/v1/jobs', {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ image: testImage, command: ['true'] }),
    });
    const { id } = (await submitted.json()) as { id: string };
    const cancelled = await stack.app.request(`/v1/jobs/${id}/cancel`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ reason: 'as written' }),
    });
    expect(cancelled.status).toBe(200);
    return { id, auth: { authorization: auth.authorization } };
  };

  it('recomputes the stream chain: verified as written, the altered version named after a superuser rewrite', async () => {
    const { id, auth } = await submitAndCancel('verified');
    const before = await stack.app.request(`/v1/jobs/${id}/verify`, { headers: auth });
    expect(before.status).toBe(200);
    const stored = await stack.store.readStream(`job-${id}`);
    expect(await before.json()).toEqual({
      verified: true,
      events: 2,
      lastPosition: stored.at(-1)?.globalPosition,
      lastVersion: 2,
    });

    // A superuser with the immutability trigger off rewrites the cancellation's reason.
    await sql`alter table events disable trigger events_immutable`.execute(stack.database.db);
    await sql`update events set data = jsonb_set(data, '{reason}', '"rewritten"')
              where stream_id = ${`job-${id}`} and stream_version = 2`.execute(stack.database.db);
    await sql`alter table events enable trigger events_immutable`.execute(stack.database.db);

    const after = await stack.app.request(`/v1/jobs/${id}/verify`, { headers: auth });
    expect(await after.json()).toMatchObject({
      verified: false,
      events: 2,
      lastVersion: 2,
      firstBadVersion: 2,
      problem: 'hash-mismatch',
    });
  });

  it('answers another tenant as if the job did not exist, and needs jobs:read', async () => {
    const { id } = await submitAndCancel('owner');
    const stranger = { authorization: `Bearer ${await stack.token('stranger', { tenant: 'other' })}` };
    expect((await stack.app.request(`/v1/jobs/${id}/verify`, { headers: stranger })).status).toBe(404);
    const noRead = {
      authorization: `Bearer ${await stack.token('writer', { tenant: 'owner', scopes: ['jobs:submit'] })}`,
    };
    expect((await stack.app.request(`/v1/jobs/${id}/verify`, { headers: noRead })).status).toBe(403);
    expect((await stack.app.request('/v1/jobs/not-a-uuid/verify', { headers: noRead })).status).toBe(403);
  });
});

describe('queue health', () => {
  it('shows each tenant against its cap, the workers with the attempts they hold, and jobs finished per minute', async () => {
    const capped = createApp({
      store: createEventStore(stack.database.db),
      db: stack.database.db,
      policy: testPolicy,
      verifyToken: testTokenVerifier,
      logger: pino({ level: 'silent' }),
      tenantMaxRunning: 3,
    });
    const token = await stack.token('health-submitter', { tenant: 'health' });
    const submitted = await stack.app.request('/v1/jobs', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ image: testImage, command: ['true'] }),
    });
    const { id } = (await submitted.json()) as { id: string };
    // What a worker writes as it takes an attempt (workers/lifecycle/worker-leases.ts).
    const leases = createWorkerLeases(stack.database.db);
    await leases.renew('health-worker-a', 60_000);
    await leases.hold('health-worker-a', [{ jobId: id, attempt: 1 }]);
    await leases.renew('health-worker-b', 60_000);

    // Finished jobs in the read model: two 10 minutes ago (one of each outcome), one 90 minutes ago (outside).
    const finishedAgo = async (minutes: number, status: string) =>
      sql`insert into jobs (id, tenant, status, image, attempt, submitted_at, finished_at, version, last_position)
          values (gen_random_uuid(), 'health-history', ${status}, 'x', 1, now() - interval '2 hours',
                  date_trunc('minute', now()) - ${minutes} * interval '1 minute' + interval '5 seconds', 1, 0)`.execute(
        stack.database.db,
      );
    await finishedAgo(10, 'succeeded');
    await finishedAgo(10, 'succeeded');
    await finishedAgo(10, 'failed');
    await finishedAgo(90, 'succeeded');

    const admin = { authorization: `Bearer ${await stack.token('root', { scopes: ['admin'] })}` };
    const health = await eventually(
      async () =>
        (await (await capped.request('/v1/admin/queue-health', { headers: admin })).json()) as QueueHealth,
      (body) => body.tenants.some((tenant) => tenant.tenant === 'health'),
    );
    expect(health.tenantCap).toBe(3);
    expect(health.tenants.find((tenant) => tenant.tenant === 'health')).toEqual({
      tenant: 'health',
      queued: 1,
      running: 0,
      cap: 3,
    });
    const workerA = health.workers.find((worker) => worker.workerId === 'health-worker-a');
    expect(workerA).toMatchObject({ alive: true });
    expect(workerA?.running).toEqual([
      { jobId: id, attempt: 1, tenant: 'health', image: testImage, status: 'queued' },
    ]);
    expect(health.workers.find((worker) => worker.workerId === 'health-worker-b')?.running).toEqual([]);
    // The markers beside the leases are not workers.
    expect(health.workers.map((worker) => worker.workerId).filter((worker) => worker.includes('/'))).toEqual(
      [],
    );

    expect(health.throughput).toHaveLength(60);
    const minutes = health.throughput.map((bucket) => Date.parse(bucket.minute));
    expect(
      minutes.every((minute, index) => index === 0 || minute - (minutes[index - 1] ?? 0) === 60_000),
    ).toBe(true);
    const busy = health.throughput.filter((bucket) => bucket.succeeded + bucket.failed > 0);
    expect(busy).toHaveLength(1);
    expect(busy[0]).toMatchObject({ succeeded: 2, failed: 1, cancelled: 0, expired: 0 });
    expect(Date.parse(health.throughput.at(-1)?.minute ?? '') - Date.parse(busy[0]?.minute ?? '')).toBe(
      10 * 60_000,
    );
  });
});
