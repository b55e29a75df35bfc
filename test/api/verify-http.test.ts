import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore } from '../../events/event-store.ts';
import { createApp } from '../../services/api/app.ts';
import { clientScopes, mintToken } from '../../services/dev-token.ts';
import { eventually } from '../support/eventually.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { testPolicy } from '../support/test-policy.ts';
import { testSecret, testTokenVerifier } from '../support/test-stack.ts';

// Short, so the walk of 300k events (3.6 s here) takes longer than the handler's budget.
const requestTimeoutMs = 2000;
const eventCount = 300_000;

let database: TestDatabase;
let headers: Record<string, string>;
const replica = () =>
  createApp({
    store: createEventStore(database.db),
    db: database.db,
    policy: testPolicy,
    verifyToken: testTokenVerifier,
    logger: pino({ level: 'silent' }),
    requestTimeoutMs,
  });
let apiA: ReturnType<typeof replica>;
let apiB: ReturnType<typeof replica>;

beforeAll(async () => {
  database = await createTestDatabase('verify_http');
  // 100k streams of three job-like events, through the append function (chained and hashed as
  // any append), in one statement: ~10 s instead of minutes of client round trips.
  await sql`
    select append_events('job-' || i, 0, jsonb_build_array(
      jsonb_build_object('event_id', gen_random_uuid(), 'type', 'JobSubmitted', 'schema_version', 1,
        'data', jsonb_build_object('spec', jsonb_build_object('image', 'busybox:1.36', 'command', jsonb_build_array('sh', '-c', 'echo ' || i))),
        'metadata', m),
      jsonb_build_object('event_id', gen_random_uuid(), 'type', 'JobStarted', 'schema_version', 1,
        'data', jsonb_build_object('attempt', 1, 'worker', 'worker-' || (i % 7)), 'metadata', m),
      jsonb_build_object('event_id', gen_random_uuid(), 'type', 'JobSucceeded', 'schema_version', 1,
        'data', jsonb_build_object('attempt', 1, 'exitCode', 0, 'durationMs', i % 1000), 'metadata', m)))
    from generate_series(1, ${eventCount / 3}) i,
      lateral (select jsonb_build_object('actor', 'user-' || (i % 50), 'tenant', 'tenant-' || (i % 5),
        'requestId', gen_random_uuid(), 'correlationId', gen_random_uuid(),
        'traceparent', '00-' || md5(i::text) || '-' || left(md5(i::text), 16) || '-01') as m) meta
  `.execute(database.db);
  // A run's checkpoint is the oldest transaction running anywhere on the server when it starts
  // (other test files' included): wait until that is past the load, so the checkpoint test below
  // walks only its own events.
  for (const deadline = Date.now() + 40_000; Date.now() < deadline; ) {
    const { rows } = await sql<{ below: boolean }>`
      select max(transaction_id) < pg_snapshot_xmin(pg_current_snapshot()) as below from events
    `.execute(database.db);
    if (rows[0]?.below) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  apiA = replica();
  apiB = replica();
  headers = {
    authorization: `Bearer ${await mintToken({ secret: testSecret, subject: 'operator', scopes: [...clientScopes, 'admin'] })}`,
  };
}, 120_000);
afterAll(async () => {
  // Runs asked to stop end after their current batch; let them, so the pool closes with no session held.
  for (const deadline = Date.now() + 20_000; database && Date.now() < deadline; ) {
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from verify_runs where status = 'running'
    `.execute(database.db);
    if (rows[0]?.n === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await database?.destroy();
});

/** A request that must be answered within the handler's timeout, never by the timeout itself. */
async function timed(api: ReturnType<typeof replica>, path: string, init: RequestInit = {}) {
  const started = performance.now();
  const response = await api.request(path, { ...init, headers });
  const ms = performance.now() - started;
  expect(response.status, `${init.method ?? 'GET'} ${path}`).not.toBe(503);
  expect(ms).toBeLessThan(requestTimeoutMs);
  return response;
}

describe('GET /v1/admin/verify on a 300k-event log', () => {
  it('answers within the handler timeout with the run it started, and the run reports the result', async () => {
    const first = await timed(apiA, '/v1/admin/verify');
    expect(first.status).toBe(202);
    const location = first.headers.get('location');
    expect(location).toMatch(/^\/v1\/admin\/verify\/runs\/[0-9a-f-]{36}$/);
    expect(await first.json()).toMatchObject({ status: 'running', sinceCheckpoint: false });

    // One run per deployment: asking again, on either replica, joins it instead of starting another.
    for (const [api, init] of [
      [apiB, {}],
      [apiA, { method: 'POST' }],
    ] as const) {
      const again = await timed(api, '/v1/admin/verify', init);
      expect(again.status).toBe(202);
      expect(again.headers.get('location')).toBe(location);
    }

    // Polled from the other replica: progress, then the result.
    const seen: number[] = [];
    const finished = await eventually(
      async () => {
        const body = (await (await timed(apiB, location as string)).json()) as {
          status: string;
          eventsChecked: number;
        };
        seen.push(body.eventsChecked);
        return body;
      },
      (body) => body.status !== 'running',
      50_000,
    );
    expect(finished).toMatchObject({
      status: 'finished',
      eventsChecked: eventCount,
      result: { ok: true, eventsChecked: eventCount },
    });
    expect(seen.some((checked) => checked > 0 && checked < eventCount)).toBe(true);
  }, 60_000);

  it('stops a run on DELETE, and then lets the next one start', async () => {
    const started = await timed(apiA, '/v1/admin/verify', { method: 'POST' });
    const location = started.headers.get('location') as string;
    const stopping = await timed(apiB, location, { method: 'DELETE' });
    expect([200, 202]).toContain(stopping.status);
    const stopped = await eventually(
      async () => (await (await timed(apiB, location)).json()) as { status: string; eventsChecked: number },
      (run) => run.status !== 'running',
    );
    expect(stopped.status).toBe('stopped');
    expect(stopped.eventsChecked).toBeLessThan(eventCount);
    const next = await timed(apiB, '/v1/admin/verify', { method: 'POST' });
    expect(next.headers.get('location')).not.toBe(location);
    await timed(apiB, next.headers.get('location') as string, { method: 'DELETE' });
    await eventually(
      async () =>
        (await (await timed(apiB, next.headers.get('location') as string)).json()) as { status: string },
      (run) => run.status !== 'running',
    );
  });

  it('with ?since=checkpoint walks only what committed after the last run that held, and finds a break there', async () => {
    const store = createEventStore(database.db);
    const stream = `late-${randomUUID()}`;
    await store.append(stream, 0, [
      { type: 'A', schemaVersion: 1, data: { n: 1 }, metadata: {} },
      { type: 'B', schemaVersion: 1, data: { n: 2 }, metadata: {} },
    ]);
    const poll = async (location: string) =>
      eventually(
        async () =>
          (await (await timed(apiA, location)).json()) as {
            status: string;
            sinceCheckpoint: boolean;
            eventsChecked: number;
            result: Record<string, unknown>;
          },
        (run) => run.status !== 'running',
        50_000,
      );
    const [, second] = await store.readStream(stream);
    await sql`alter table events disable trigger events_immutable`.execute(database.db);
    await sql`update events set data = '{"n": 20}' where global_position = ${second?.globalPosition}`.execute(
      database.db,
    );
    await sql`alter table events enable trigger events_immutable`.execute(database.db);

    const location = (await timed(apiA, '/v1/admin/verify?since=checkpoint', { method: 'POST' })).headers.get(
      'location',
    ) as string;
    const run = await poll(location);
    // The checkpoint is the first test's full run: the new events are walked, not 300k again.
    expect(run).toMatchObject({
      status: 'finished',
      sinceCheckpoint: true,
      result: { ok: false, firstBrokenPosition: second?.globalPosition, problem: 'hash-mismatch' },
    });
    expect(run.eventsChecked).toBeLessThan(100);
  }, 60_000);

  it('reports a run whose owner died as abandoned, and starts a new one', async () => {
    const id = randomUUID();
    // Owned by a backend that holds no lock (as after a crash: the session, and the lock, are gone).
    await sql`
      insert into verify_runs (id, status, below_transaction_id, owner_pid)
      values (${id}::uuid, 'running', '1'::xid8, 1)
    `.execute(database.db);
    const orphan = await timed(apiB, `/v1/admin/verify/runs/${id}`);
    expect(await orphan.json()).toMatchObject({ id, status: 'abandoned' });
    const next = await timed(apiA, '/v1/admin/verify', { method: 'POST' });
    expect(next.headers.get('location')).not.toContain(id);
    await timed(apiA, next.headers.get('location') as string, { method: 'DELETE' });
    expect((await timed(apiA, '/v1/admin/verify/runs/not-a-run')).status).toBe(404);
  });
});
