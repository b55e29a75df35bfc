import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../services/api/app.ts';
import { clientScopes } from '../../services/dev-token.ts';
import { testImage } from '../support/test-image.ts';
import { testPolicy } from '../support/test-policy.ts';
import { startTestStack, type TestStack, testTokenVerifier } from '../support/test-stack.ts';

let stack: TestStack;
let redis: Redis;

beforeAll(async () => {
  stack = await startTestStack('access', { withWorkers: false });
  redis = new Redis('redis://127.0.0.1:6379');
});
afterAll(async () => {
  redis?.disconnect();
  await stack?.stop();
});

const jobBody = JSON.stringify({ image: testImage, command: ['true'] });

async function submitAs(token: string): Promise<string> {
  const response = await stack.app.request('/v1/jobs', {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: jobBody,
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

describe('scopes on every route', () => {
  let jobId: string;
  beforeAll(async () => {
    jobId = await submitAs(await stack.token('owner'));
  });

  const routes = [
    {
      name: 'POST /v1/jobs',
      method: 'POST',
      path: () => '/v1/jobs',
      body: jobBody,
      needs: 'jobs:submit',
      ok: 202,
    },
    {
      name: 'POST /v1/jobs/batch',
      method: 'POST',
      path: () => '/v1/jobs/batch',
      body: JSON.stringify({ jobs: [JSON.parse(jobBody)] }),
      needs: 'jobs:submit',
      ok: 200,
    },
    { name: 'GET /v1/jobs/:id', method: 'GET', path: () => `/v1/jobs/${jobId}`, needs: 'jobs:read', ok: 200 },
    {
      name: 'GET /v1/jobs/:id/events',
      method: 'GET',
      path: () => `/v1/jobs/${jobId}/events`,
      needs: 'events:read',
      ok: 200,
    },
    { name: 'GET /v1/secrets', method: 'GET', path: () => '/v1/secrets', needs: 'secrets:read', ok: 200 },
    {
      name: 'PUT /v1/secrets/:name',
      method: 'PUT',
      path: () => '/v1/secrets/scoped',
      body: JSON.stringify({ value: 'v4lue' }),
      needs: 'secrets:write',
      ok: 204,
    },
    { name: 'GET /v1/files', method: 'GET', path: () => '/v1/files', needs: 'files:read', ok: 200 },
    {
      name: 'POST /v1/files',
      method: 'POST',
      path: () => '/v1/files?name=scoped.json',
      body: JSON.stringify({ scoped: true }),
      needs: 'files:write',
      ok: 201,
    },
    {
      name: 'POST /v1/webhooks',
      method: 'POST',
      path: () => '/v1/webhooks',
      body: JSON.stringify({ url: 'https://hooks.example.com/scoped', events: ['terminal'] }),
      needs: 'webhooks:write',
      ok: 201,
    },
    { name: 'GET /v1/webhooks', method: 'GET', path: () => '/v1/webhooks', needs: 'webhooks:read', ok: 200 },
    {
      name: 'GET /v1/webhooks/:id',
      method: 'GET',
      path: () => `/v1/webhooks/${randomUUID()}`,
      needs: 'webhooks:read',
      ok: 404,
    },
    {
      name: 'DELETE /v1/webhooks/:id',
      method: 'DELETE',
      path: () => `/v1/webhooks/${randomUUID()}`,
      needs: 'webhooks:write',
      ok: 404,
    },
  ] as const;
  const allScopes = [...clientScopes, 'admin'] as const;

  for (const route of routes) {
    for (const scope of allScopes) {
      const allowed = scope === route.needs || scope === 'admin';
      it(`${route.name} with only ${scope} → ${allowed ? route.ok : 403}`, async () => {
        const token = await stack.token('owner', { scopes: [scope] });
        const response = await stack.app.request(route.path(), {
          method: route.method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          ...('body' in route ? { body: route.body } : {}),
        });
        expect(response.status).toBe(allowed ? route.ok : 403);
        if (!allowed) expect(await response.json()).toMatchObject({ code: 'insufficient-scope' });
      });
    }
  }
});

describe('tenants', () => {
  it("answers 404 for another tenant's job and its events, exactly as for a missing job", async () => {
    const id = await submitAs(await stack.token('alice', { tenant: 'acme' }));
    const intruder = { authorization: `Bearer ${await stack.token('bob', { tenant: 'globex' })}` };
    for (const path of [`/v1/jobs/${id}`, `/v1/jobs/${id}/events`]) {
      const response = await stack.app.request(path, { headers: intruder });
      expect(response.status).toBe(404);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ code: 'job-not-found' });
      expect(JSON.stringify(body)).not.toMatch(/acme|alice|true/);
      const missing = (await (
        await stack.app.request(path.replace(id, randomUUID()), { headers: intruder })
      ).json()) as object;
      expect(Object.keys(missing).sort()).toEqual(Object.keys(body).sort());
    }
  });

  it('lets the owning tenant and an admin read the job', async () => {
    const id = await submitAs(await stack.token('alice', { tenant: 'acme' }));
    const colleague = await stack.token('carol', { tenant: 'acme' });
    const admin = await stack.token('operator', { tenant: 'ops', scopes: ['admin'] });
    for (const token of [colleague, admin]) {
      expect(
        (await stack.app.request(`/v1/jobs/${id}`, { headers: { authorization: `Bearer ${token}` } })).status,
      ).toBe(200);
    }
  });

  it('records tenant, actor, token id, user agent and request id on the submitted event', async () => {
    const token = await stack.token('alice', { tenant: 'acme' });
    const response = await stack.app.request('/v1/jobs', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'user-agent': 'audit-test/1.0',
      },
      body: jobBody,
    });
    const { id } = (await response.json()) as { id: string };
    const [submitted] = await stack.store.readStream(`job-${id}`);
    expect(submitted?.metadata).toMatchObject({
      actor: 'alice',
      tenant: 'acme',
      tokenId: expect.any(String),
      userAgent: 'audit-test/1.0',
      requestId: response.headers.get('x-request-id'),
    });
  });
});

describe('rate limits', () => {
  it('refuses a burst over the per-subject limit with 429, Retry-After and RateLimit headers, shared through Redis', async () => {
    const options = {
      redis,
      keyPrefix: `test-${randomUUID()}`,
      windowSeconds: 60,
      perSubject: 5,
      perTenant: 100,
    };
    const deps = {
      store: stack.store,
      policy: testPolicy,
      verifyToken: testTokenVerifier,
      logger: pino({ level: 'silent' }),
    };
    // Two API replicas sharing one Redis share one budget.
    const replicaA = createApp({ ...deps, rateLimit: options });
    const replicaB = createApp({ ...deps, rateLimit: options });
    const headers = { authorization: `Bearer ${await stack.token('bursty', { tenant: 'acme' })}` };
    const statuses: number[] = [];
    let refused: Response | undefined;
    for (let i = 0; i < 8; i++) {
      const response = await (i % 2 === 0 ? replicaA : replicaB).request('/v1/secrets', { headers });
      statuses.push(response.status);
      if (response.status === 429) refused ??= response;
      else expect(response.headers.get('ratelimit-remaining')).toBe(String(4 - i));
    }
    expect(statuses.filter((s) => s !== 429)).toHaveLength(5);
    expect(statuses.slice(5)).toEqual([429, 429, 429]);
    expect(refused?.headers.get('content-type')).toBe('application/problem+json');
    expect(Number(refused?.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await refused?.json()).toMatchObject({ code: 'rate-limited', status: 429 });
    // Another subject still has its own budget.
    const other = await replicaA.request('/v1/secrets', {
      headers: { authorization: `Bearer ${await stack.token('calm', { tenant: 'acme' })}` },
    });
    expect(other.status).not.toBe(429);
  });
});

describe('hardening', () => {
  it('answers CORS only for configured origins', async () => {
    const deps = {
      store: stack.store,
      policy: testPolicy,
      verifyToken: testTokenVerifier,
      logger: pino({ level: 'silent' }),
    };
    const closed = createApp(deps);
    const open = createApp({ ...deps, corsOrigins: ['https://app.example'] });
    const preflight = (app: ReturnType<typeof createApp>, origin: string) =>
      app.request('/v1/jobs', {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization',
        },
      });
    expect(
      (await preflight(closed, 'https://app.example')).headers.get('access-control-allow-origin'),
    ).toBeNull();
    expect((await preflight(open, 'https://app.example')).headers.get('access-control-allow-origin')).toBe(
      'https://app.example',
    );
    expect(
      (await preflight(open, 'https://evil.example')).headers.get('access-control-allow-origin'),
    ).toBeNull();
  });

  it('sets secure headers and a request id on every response, errors included', async () => {
    for (const response of [await stack.app.request('/healthz'), await stack.app.request('/v1/jobs')]) {
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('x-frame-options')).toBeTruthy();
      expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('refuses an oversized body with 413 problem+json', async () => {
    const app = createApp({
      store: stack.store,
      policy: testPolicy,
      verifyToken: testTokenVerifier,
      logger: pino({ level: 'silent' }),
      maxBodyBytes: 1024,
    });
    const response = await app.request('/v1/jobs', {
      method: 'POST',
      headers: { authorization: `Bearer ${await stack.token()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ image: testImage, command: ['echo', 'x'.repeat(4096)] }),
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ code: 'payload-too-large' });
  });

  it('counts and logs refused requests without the token', async () => {
    const lines: string[] = [];
    const refused: number[] = [];
    const app = createApp({
      store: stack.store,
      policy: testPolicy,
      verifyToken: testTokenVerifier,
      logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }),
      onRefused: (status) => void refused.push(status),
    });
    const badToken = `${(await stack.token()).slice(0, -4)}AAAA`;
    await app.request('/v1/jobs', { headers: { authorization: `Bearer ${badToken}` } });
    await app.request('/v1/jobs');
    await app.request('/v1/secrets', {
      headers: { authorization: `Bearer ${await stack.token('reader', { scopes: ['jobs:read'] })}` },
    });
    expect(refused).toEqual([401, 401, 403]);
    expect(lines.join('\n')).toMatch(/refused: invalid token/);
    expect(lines.join('\n')).not.toContain(badToken.slice(0, 40));
  });
});
