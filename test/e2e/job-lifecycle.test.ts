import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxLabels } from '../../workers/sandbox/container-options.ts';
import { testImage } from '../support/test-image.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

let stack: TestStack;
let acme: Record<string, string>;
let globex: Record<string, string>;
let admin: Record<string, string>;

beforeAll(async () => {
  // Two running attempts per tenant: small enough that a flood queues up behind it.
  stack = await startTestStack('lifecycle', { tenantMaxRunning: 2, shutdownGraceMs: 4_000 });
  acme = { authorization: `Bearer ${await stack.token('alice', { tenant: 'acme' })}` };
  globex = { authorization: `Bearer ${await stack.token('bob', { tenant: 'globex' })}` };
  admin = { authorization: `Bearer ${await stack.token('root', { tenant: 'ops', scopes: ['admin'] })}` };
});
afterAll(async () => {
  const leftovers = await stack?.leftoverContainers();
  await stack?.stop();
  expect(leftovers).toEqual([]);
});

type Json = Record<string, unknown>;
const json = { 'content-type': 'application/json' };

async function submit(body: Json, headers: Record<string, string> = acme): Promise<Response> {
  return stack.app.request('/v1/jobs', {
    method: 'POST',
    headers: { ...json, ...headers },
    body: JSON.stringify({ image: testImage, ...body }),
  });
}
async function submitId(body: Json, headers: Record<string, string> = acme): Promise<string> {
  const response = await submit(body, headers);
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}
const getJob = async (id: string, headers = acme) =>
  (await (await stack.app.request(`/v1/jobs/${id}`, { headers })).json()) as Json;
const post = (path: string, headers: Record<string, string> = acme, body?: Json) =>
  stack.app.request(path, {
    method: 'POST',
    headers: { ...json, ...headers },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
const events = async (id: string) =>
  (
    (await (await stack.app.request(`/v1/jobs/${id}/events`, { headers: admin })).json()) as {
      events: Array<{ type: string; data: Json; metadata: Json; recordedAt: string }>;
    }
  ).events;

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
const untilStatus = (id: string, status: string, headers = acme, timeoutMs = 30_000) =>
  until(async () => {
    const job = await getJob(id, headers);
    return job.status === status ? job : undefined;
  }, timeoutMs).catch(async (error: unknown) => {
    const history = (await events(id)).map((e) => e.type);
    const logs = stack
      .logs()
      .filter((line) => line.includes(id) || line.includes(`"level":50`))
      .slice(-10);
    const messages = await Promise.all(
      [1, 2, 3].map(async (n) => {
        const m = await stack.queue.getJob(`${id}-${n}`);
        return m
          ? `${n}:${await m.getState()}:${JSON.stringify(m.opts)}:${m.delay}:${m.timestamp}`
          : `${n}:none`;
      }),
    );
    throw new Error(
      `job ${id} is not ${status}: ${history.join(', ')}\n${messages.join(' ')} now=${Date.now()}\n${logs.join('')}`,
      { cause: error },
    );
  });
const list = async (query: string, headers = acme) => {
  const response = await stack.app.request(`/v1/jobs${query}`, { headers });
  expect(response.status).toBe(200);
  return (await response.json()) as { jobs: Json[]; nextCursor: string | null };
};

describe('retries', () => {
  it('retries a failing job per its policy, then dead-letters it: listable as failed, re-runnable by an operator', async () => {
    const id = await submitId({
      command: ['sh', '-c', 'exit 3'],
      retry: { maxAttempts: 2, backoff: { initialMs: 50 }, on: ['exit-code'] },
    });
    const failed = await untilStatus(id, 'failed');
    expect(failed).toMatchObject({ attempt: 2, exitCode: 3, failureReason: 'exit-code' });
    expect((await events(id)).map((e) => e.type)).toEqual([
      'JobSubmitted',
      'JobStarted',
      'JobFailed',
      'JobRetryScheduled',
      'JobStarted',
      'JobFailed',
    ]);

    const listed = await until(async () => {
      const page = await list('?status=failed');
      return page.jobs.some((job) => job.id === id) ? page : undefined;
    });
    expect(listed.jobs.every((job) => job.status === 'failed')).toBe(true);

    const rerun = await post(`/v1/jobs/${id}/retry`, acme, { reason: 'disk replaced' });
    expect(rerun.status).toBe(202);
    expect(await rerun.json()).toMatchObject({ status: 'queued', attempt: 3 });
    await until(async () =>
      (await getJob(id)).attempt === 3 && (await getJob(id)).status === 'failed' ? true : undefined,
    );
    const retry = (await events(id)).filter((e) => e.type === 'JobRetryScheduled').at(-1);
    expect(retry?.data).toMatchObject({
      attempt: 3,
      reason: 'operator',
      requestedBy: 'alice',
      comment: 'disk replaced',
    });

    const running = await submitId({ command: ['sleep', '5'] });
    const refused = await post(`/v1/jobs/${running}/retry`);
    expect(refused.status).toBe(409);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    await post(`/v1/jobs/${running}/cancel`);
  }, 90_000);
});

describe('cancellation', () => {
  it('kills a running job’s container within a second; repeating is a no-op; a finished job is a 409', async () => {
    const id = await submitId({ command: ['sleep', '30'] });
    await untilStatus(id, 'running');
    // Running containers only: killed is what must happen within a second; removal follows.
    const containersOf = async () =>
      stack.docker.listContainers({ filters: { label: [`${sandboxLabels.jobId}=${id}`] } });
    await until(async () => ((await containersOf()).length > 0 ? true : undefined));

    const cancelledAt = Date.now();
    const response = await post(`/v1/jobs/${id}/cancel`, acme, { reason: 'wrong input' });
    expect(response.status).toBe(200);
    const view = (await response.json()) as Json;
    expect(view).toMatchObject({ status: 'cancelled', cancelledBy: 'alice' });
    await until(async () => ((await containersOf()).length === 0 ? true : undefined), 5_000);
    expect(Date.now() - cancelledAt).toBeLessThan(1_000);

    const again = await post(`/v1/jobs/${id}/cancel`);
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(view);
    const history = await events(id);
    expect(history.filter((e) => e.type === 'JobCancelled')).toHaveLength(1);
    expect(history.at(-1)).toMatchObject({
      type: 'JobCancelled',
      data: { attempt: 1, wasRunning: true, reason: 'wrong input' },
    });

    const done = await submitId({ command: ['true'] });
    await untilStatus(done, 'succeeded');
    const refused = await post(`/v1/jobs/${done}/cancel`);
    expect(refused.status).toBe(409);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    expect(await refused.json()).toMatchObject({ code: 'job-finished' });
  });

  it('cancels a delayed job before it ever starts, and hides other tenants’ jobs', async () => {
    const id = await submitId({ command: ['true'], delayMs: 60_000, priority: 90 });
    expect(await getJob(id)).toMatchObject({ status: 'queued', priority: 90, runAt: expect.any(String) });
    expect((await post(`/v1/jobs/${id}/cancel`, globex)).status).toBe(404);
    expect((await post(`/v1/jobs/${id}/cancel`)).status).toBe(200);
    expect((await events(id)).map((e) => e.type)).toEqual(['JobSubmitted', 'JobCancelled']);
  });
});

describe('queue deadline', () => {
  it('expires an attempt that could not start before expiresAt, distinct from a run timeout', async () => {
    const expired = await submitId({
      command: ['true'],
      delayMs: 800,
      expiresAt: new Date(Date.now() + 300).toISOString(),
    });
    await untilStatus(expired, 'expired');
    expect((await events(expired)).map((e) => e.type)).toEqual(['JobSubmitted', 'JobExpired']);
    const timedOut = await submitId({ command: ['sleep', '5'], timeoutMs: 300 });
    expect(await untilStatus(timedOut, 'failed')).toMatchObject({ failureReason: 'timeout' });
  });
});

describe('idempotency', () => {
  it('returns the original job for a repeat, refuses another body with 409, and scopes keys to the tenant', async () => {
    const body = { command: ['echo', 'once'] };
    const key = { 'idempotency-key': `order-${Date.now()}` };
    const first = await submit(body, { ...acme, ...key });
    expect(first.status).toBe(202);
    const { id } = (await first.json()) as { id: string };
    const repeat = await submit(body, { ...acme, ...key });
    expect(repeat.status).toBe(200);
    expect(await repeat.json()).toMatchObject({ id });
    const other = await submit({ command: ['echo', 'twice'] }, { ...acme, ...key });
    expect(other.status).toBe(409);
    expect(await other.json()).toMatchObject({ code: 'idempotency-key-reused' });
    const otherTenant = await submit(body, { ...globex, ...key });
    expect(otherTenant.status).toBe(202);
    expect(((await otherTenant.json()) as { id: string }).id).not.toBe(id);
    const concurrent = await Promise.all(
      [1, 2, 3].map(() => submit(body, { ...acme, 'idempotency-key': `${key['idempotency-key']}-c` })),
    );
    const ids = new Set(
      await Promise.all(concurrent.map(async (r) => ((await r.json()) as { id: string }).id)),
    );
    expect(ids.size).toBe(1);
  });
});

describe('listing', () => {
  it('filters, paginates with a cursor, and shows only the caller’s tenant unless admin', async () => {
    const mine = [];
    for (let i = 0; i < 5; i += 1) mine.push(await submitId({ command: ['true'], delayMs: 60_000 }, globex));
    await until(async () =>
      (await list('?status=queued&submittedBy=bob', globex)).jobs.length >= 5 ? true : undefined,
    );
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await list(`?submittedBy=bob&limit=2${cursor ? `&cursor=${cursor}` : ''}`, globex);
      expect(page.jobs.length).toBeLessThanOrEqual(2);
      seen.push(...page.jobs.map((job) => job.id as string));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...mine].reverse().concat(seen.slice(5)));
    expect(new Set(seen).size).toBe(seen.length);
    expect((await list('?submittedBy=bob', acme)).jobs).toEqual([]);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await list(`?submittedAfter=${encodeURIComponent(future)}`, globex)).jobs).toEqual([]);
    expect(
      (await list(`?image=${encodeURIComponent(testImage)}&submittedBy=bob&tenant=globex`, admin)).jobs,
    ).toHaveLength(seen.length);
    const invalid = await stack.app.request('/v1/jobs?status=sleeping', { headers: globex });
    expect(invalid.status).toBe(400);
    for (const id of mine) await post(`/v1/jobs/${id}/cancel`, globex);
  });
});

describe('fair concurrency', () => {
  it('starts a second tenant’s jobs before the first tenant’s flood drains', async () => {
    const flood = await Promise.all(
      Array.from({ length: 30 }, () => submitId({ command: ['sleep', '0.3'] }, acme)),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    const late = [
      await submitId({ command: ['true'] }, globex),
      await submitId({ command: ['true'] }, globex),
    ];
    const startOf = async (id: string) =>
      Date.parse((await events(id)).find((e) => e.type === 'JobStarted')?.recordedAt ?? 'NaN');
    await Promise.all(late.map((id) => untilStatus(id, 'succeeded', globex)));
    const lateStarts = await Promise.all(late.map(startOf));
    await Promise.all(flood.map((id) => untilStatus(id, 'succeeded', acme, 90_000)));
    const floodStarts = (await Promise.all(flood.map(startOf))).sort((a, b) => a - b);
    const lastFloodStart = floodStarts.at(-1) ?? 0;
    expect(Math.max(...lateStarts)).toBeLessThan(lastFloodStart);
    // And the flood never ran more than its limit at once.
    const flooded = await Promise.all(
      flood.map(async (id) =>
        (await events(id)).filter((e) => e.type === 'JobStarted' || e.type === 'JobSucceeded'),
      ),
    );
    const edges = flooded
      .flatMap((pair) =>
        pair.map((e) => ({ at: Date.parse(e.recordedAt), delta: e.type === 'JobStarted' ? 1 : -1 })),
      )
      .sort((a, b) => a.at - b.at || a.delta - b.delta);
    let running = 0;
    let peak = 0;
    for (const edge of edges) {
      running += edge.delta;
      peak = Math.max(peak, running);
    }
    expect(peak).toBeLessThanOrEqual(2);
  }, 120_000);
});

describe('graceful shutdown', () => {
  it('lets a short job finish, then records a long one abandoned and schedules its retry', async () => {
    const long = await submitId({ command: ['sleep', '30'] }, globex);
    const short = await submitId({ command: ['sleep', '0.5'] }, globex);
    await untilStatus(long, 'running', globex);
    await untilStatus(short, 'running', globex);
    await stack.stopWorker();
    expect(await getJob(short, globex)).toMatchObject({ status: 'succeeded' });
    const history = (await events(long)).map((e) => e.type);
    expect(history.slice(-2)).toEqual(['JobAttemptAbandoned', 'JobRetryScheduled']);
    expect((await events(long)).at(-2)?.data).toMatchObject({ reason: 'shutdown' });
  }, 30_000);
});
