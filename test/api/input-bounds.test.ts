import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inputBounds } from '../../schemas/input-bounds.ts';
import { ConfigError, loadConfig } from '../../services/config.ts';
import { eventually } from '../support/eventually.ts';
import { testImage } from '../support/test-image.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

let stack: TestStack;
let headers: Record<string, string>;

beforeAll(async () => {
  stack = await startTestStack('input_bounds');
  headers = {
    authorization: `Bearer ${await stack.token('bounds-user')}`,
    'content-type': 'application/json',
  };
});
afterAll(async () => {
  const leftovers = await stack?.leftoverContainers();
  await stack?.stop();
  expect(leftovers).toEqual([]);
});

const minute = 60_000;
const max = inputBounds.maxDurationMs;

const submit = (body: Record<string, unknown>) =>
  stack.app.request('/v1/jobs', {
    method: 'POST',
    headers,
    body: JSON.stringify({ image: testImage, command: ['true'], ...body }),
  });

async function problemPointers(response: Response): Promise<string[]> {
  expect(response.status).toBe(400);
  const problem = (await response.json()) as { code: string; errors?: { pointer: string }[] };
  expect(problem.code).toBe('validation-failed');
  return (problem.errors ?? []).map((error) => error.pointer);
}

/** The job's row in GET /v1/jobs once the read model (which trails the log) shows it in `status`. */
async function listed(id: string, status: string) {
  const jobs = await eventually(
    async () =>
      (
        (await (await stack.app.request('/v1/jobs', { headers })).json()) as {
          jobs: { id: string; status: string }[];
        }
      ).jobs,
    (rows) => rows.some((row) => row.id === id && row.status === status),
  );
  return jobs.find((row) => row.id === id);
}

describe('dates and durations at the edge of what the API allows', () => {
  it('accepts each at its edge: the job dispatches, lists and GETs', async () => {
    // The earliest instant, written with the widest offset; every duration at its maximum.
    const runsNow = await submit({
      runAt: '2000-01-01T14:00:00+14:00',
      timeoutMs: inputBounds.maxTimeoutMs,
      retry: { maxAttempts: 2, backoff: { initialMs: max, maxMs: max, multiplier: 100 } },
      limits: { memoryBytes: inputBounds.maxMemoryBytes, pids: inputBounds.maxPids },
      priority: 100,
    });
    expect(runsNow.status).toBe(202);
    const { id } = (await runsNow.json()) as { id: string };
    const done = await eventually(
      async () =>
        (await (await stack.app.request(`/v1/jobs/${id}`, { headers })).json()) as { status: string },
      (job) => job.status === 'succeeded',
      30_000,
    );
    expect(done.status).toBe('succeeded');
    expect(await listed(id, 'succeeded')).toMatchObject({ status: 'succeeded' });

    // The latest instant a year ahead, with the other extreme offset, and the longest queue wait.
    const latest = new Date(Date.now() + inputBounds.maxAheadMs - minute);
    const local = new Date(latest.getTime() - 14 * 60 * minute).toISOString().slice(0, 19);
    const delayed = await submit({
      runAt: `${local}-14:00`,
      expiresAt: new Date(latest.getTime() + 30_000).toISOString(),
      queueTimeoutMs: max,
    });
    expect(delayed.status).toBe(202);
    const delayedId = ((await delayed.json()) as { id: string }).id;
    const view = (await (await stack.app.request(`/v1/jobs/${delayedId}`, { headers })).json()) as {
      status: string;
      runAt: string;
    };
    expect(view).toMatchObject({ status: 'queued', runAt: `${latest.toISOString().slice(0, 19)}.000Z` });
    const message = await eventually(
      () => stack.queue.getJob(`${delayedId}-1`),
      (job) => job !== undefined,
    );
    expect(await message?.getState()).toBe('delayed');
    expect(await listed(delayedId, 'queued')).toMatchObject({ status: 'queued' });

    const byDelay = await submit({ delayMs: inputBounds.maxAheadMs, queueTimeoutMs: max });
    expect(byDelay.status).toBe(202);
  });

  it('refuses each one past its edge with a 400 naming the field', async () => {
    const beyond = new Date(Date.now() + inputBounds.maxAheadMs + 10 * minute).toISOString();
    const cases: [Record<string, unknown>, string][] = [
      [{ runAt: '9999-12-31T23:59:59-14:00' }, '/runAt'],
      [{ runAt: beyond }, '/runAt'],
      [{ runAt: '1999-12-31T23:59:59Z' }, '/runAt'],
      [{ runAt: '2026-06-01T00:00:00+14:01' }, '/runAt'],
      [{ runAt: '0000-01-01T00:00:00Z' }, '/runAt'],
      [{ expiresAt: '9999-12-31T23:59:59-14:00' }, '/expiresAt'],
      [{ expiresAt: beyond }, '/expiresAt'],
      [{ delayMs: inputBounds.maxAheadMs + 1 }, '/delayMs'],
      [{ queueTimeoutMs: max + 1 }, '/queueTimeoutMs'],
      [{ queueTimeoutMs: 8.64e15 }, '/queueTimeoutMs'],
      [{ timeoutMs: inputBounds.maxTimeoutMs + 1 }, '/timeoutMs'],
      [{ retry: { backoff: { initialMs: max + 1 } } }, '/retry/backoff/initialMs'],
      [{ retry: { backoff: { maxMs: max + 1 } } }, '/retry/backoff/maxMs'],
      [{ retry: { backoff: { multiplier: 1e308 } } }, '/retry/backoff/multiplier'],
      [{ limits: { memoryBytes: inputBounds.maxMemoryBytes + 1 } }, '/limits/memoryBytes'],
      [{ limits: { pids: inputBounds.maxPids + 1 } }, '/limits/pids'],
      [{ priority: 101 }, '/priority'],
    ];
    for (const [body, pointer] of cases) {
      expect({ body, pointers: await problemPointers(await submit(body)) }).toEqual({
        body,
        pointers: [pointer],
      });
    }
  });

  it('refuses query dates and cursors Postgres would refuse with a 400, not a 500', async () => {
    const badCursor = Buffer.from(
      JSON.stringify(['garbage', '0190d6a0-0000-7000-8000-000000000000']),
    ).toString('base64url');
    const admin = { authorization: `Bearer ${await stack.token('bounds-admin', { scopes: ['admin'] })}` };
    const cases: [string, string][] = [
      ['/v1/jobs?submittedAfter=0000-01-01T00:00:00Z', '/submittedAfter'],
      ['/v1/jobs?submittedBefore=2026-01-01T00:00:00%2B23:59', '/submittedBefore'],
      [`/v1/jobs?cursor=${badCursor}`, '/query/cursor'],
      ['/v1/events?from=0000-01-01T00:00:00Z', '/from'],
      ['/v1/events?after=99999999999999999999-1', '/after'],
    ];
    for (const [url, pointer] of cases) {
      const response = await stack.app.request(url, { headers: admin });
      expect({ url, pointers: await problemPointers(response) }).toEqual({ url, pointers: [pointer] });
    }
  });
});

describe('text Postgres cannot store', () => {
  it('answers 400 naming the field, wherever the NUL or lone surrogate is', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ env: { GREETING: 'a\u0000b' } }, '/env/GREETING'],
      [{ command: ['echo', 'x\ud800y'] }, '/command/1'],
      [{ stdin: '\udc00' }, '/stdin'],
      [{ files: [{ path: '/tmp/a', content: 'nul\u0000' }] }, '/files/0/content'],
    ];
    for (const [body, pointer] of cases) {
      expect({ body, pointers: await problemPointers(await submit(body)) }).toEqual({
        body,
        pointers: [pointer],
      });
    }
    const query = await stack.app.request('/v1/jobs?image=a%00b', { headers });
    expect(await problemPointers(query)).toEqual(['/image']);
    const accepted = (await (await submit({})).json()) as { id: string };
    const cancel = await stack.app.request(`/v1/jobs/${accepted.id}/cancel`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ reason: 'why\u0000' }),
    });
    expect(await problemPointers(cancel)).toEqual(['/reason']);
  });
});

describe('operator settings that become dates and timers', () => {
  it('refuses a timeout Node cannot time or a retry delay past the bounds, at start-up', () => {
    expect(
      loadConfig({ SANDBOX_MAX_TIMEOUT_MS: String(inputBounds.maxTimeoutMs) }).sandbox.maxima.timeoutMs,
    ).toBe(inputBounds.maxTimeoutMs);
    for (const env of [
      { SANDBOX_MAX_TIMEOUT_MS: String(inputBounds.maxTimeoutMs + 1) },
      { RETRY_MAX_DELAY_MS: String(inputBounds.maxDurationMs + 1) },
      { RETRY_DEFAULT_INITIAL_MS: '9000000000000000' },
    ]) {
      expect(() => loadConfig(env)).toThrow(ConfigError);
    }
  });
});
