import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../events/database.ts';
import { createEventStore, type EventStore } from '../../events/event-store.ts';
import { verifyChain } from '../../events/verify-chain.ts';
import { createAdminRoutes } from '../../services/api/admin.routes.ts';
import type { AuthVariables } from '../../services/api/bearer-auth.middleware.ts';
import { runVerify } from '../../services/cli/verify.command.ts';
import { createTestDatabase, type TestDatabase, testServerUrl } from '../support/test-database.ts';

/** The admin routes as an operator's request reaches them: authenticated, with the admin scope. */
const asAdmin = () =>
  new Hono<{ Variables: AuthVariables }>()
    .use(async (c, next) => {
      c.set('principal', { subject: 'operator', tenant: 'ops', scopes: new Set(['admin']) });
      await next();
    })
    .route('/', createAdminRoutes({ db: database.db }));

let database: TestDatabase;
let store: EventStore;

beforeAll(async () => {
  database = await createTestDatabase('integrity');
  store = createEventStore(database.db);
});
afterAll(() => database?.destroy());

const event = (type: string, data: unknown = {}) => ({
  type,
  schemaVersion: 1,
  data,
  metadata: { actor: 'tester' },
});

/** Runs `work` in one session switched to the service role, as a deployed service would be. */
async function asServiceRole<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    await client.query('set role omni_service');
    return await work(client);
  } finally {
    await client.end();
  }
}

const output = () => {
  let text = '';
  return { out: { write: (chunk: string) => (text += chunk) }, text: () => text };
};

describe('the service role', () => {
  it('can append and read, but holds no UPDATE, DELETE or TRUNCATE grant on events', async () => {
    const stream = `role-${randomUUID()}`;
    await asServiceRole(async (client) => {
      const payload = JSON.stringify([
        { event_id: randomUUID(), type: 'A', schema_version: 1, data: {}, metadata: {} },
      ]);
      await client.query('select * from append_events($1, 0, $2::jsonb)', [stream, payload]);
      const { rows } = await client.query('select count(*)::int as n from events where stream_id = $1', [
        stream,
      ]);
      expect(rows[0].n).toBe(1);
      // 42501 = insufficient_privilege: refused by the grants before the immutability trigger runs.
      for (const statement of [
        'update events set type = $$X$$ where stream_id = $1',
        'delete from events where stream_id = $1',
      ]) {
        await expect(client.query(statement, [stream])).rejects.toMatchObject({ code: '42501' });
      }
      await expect(client.query('truncate events')).rejects.toMatchObject({ code: '42501' });
    });
    expect(await store.readStream(stream)).toHaveLength(1);
  });

  it('cannot forge history: a chained event inserted directly (any position, transaction, time) and a moved stream head are refused', async () => {
    const stream = `forge-${randomUUID()}`;
    await store.append(stream, 0, [event('A')]);
    await asServiceRole(async (client) => {
      // What a forger would write: the next link of the chain, hashed exactly as append_events does,
      // at a position, transaction id and recorded_at of its choosing.
      const forged = `
        insert into events (global_position, transaction_id, stream_id, stream_version, event_id, type,
          schema_version, data, metadata, recorded_at, hash)
        overriding system value
        select 1000000, '1'::xid8, s.stream_id, s.version + 1, $2::uuid, 'Forged', 1, '{}'::jsonb, '{}'::jsonb,
          timestamptz '2020-01-01', event_hash(s.last_hash, s.stream_id, s.version + 1, $2::uuid, 'Forged', 1,
            '{}'::jsonb, '{}'::jsonb, timestamptz '2020-01-01')
        from streams s where s.stream_id = $1`;
      await expect(client.query(forged, [stream, randomUUID()])).rejects.toMatchObject({ code: '42501' });
      await expect(
        client.query('update streams set version = version + 1 where stream_id = $1', [stream]),
      ).rejects.toMatchObject({ code: '42501' });
      await expect(
        client.query('insert into streams (stream_id, version) values ($1, 5)', [`head-${randomUUID()}`]),
      ).rejects.toMatchObject({ code: '42501' });
      // …while both append functions still work for it.
      const one = JSON.stringify([
        { event_id: randomUUID(), type: 'B', schema_version: 1, data: {}, metadata: {} },
      ]);
      await client.query('select * from append_events($1, 1, $2::jsonb)', [stream, one]);
      const batch = JSON.stringify([
        {
          stream_id: stream,
          expected_version: 2,
          events: [{ event_id: randomUUID(), type: 'C', schema_version: 1, data: {}, metadata: {} }],
        },
      ]);
      const { rows } = await client.query('select * from append_events_batch($1::jsonb)', [batch]);
      expect(rows).toMatchObject([{ item: 1, stream_version: 3, error_code: null }]);
    });
    expect((await store.readStream(stream)).map((stored) => stored.type)).toEqual(['A', 'B', 'C']);
    expect(await verifyChain(database.db)).toMatchObject({ ok: true });
  });

  it('works for a login user granted omni_service, through the event store itself (group commit included)', async () => {
    const login = `omni_login_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    await sql.raw(`create role ${login} login in role omni_service`).execute(database.db);
    const serviceDb = createDatabase({
      connectionString: `${testServerUrl.replace('//postgres@', `//${login}@`)}/${database.name}`,
    });
    try {
      const serviceStore = createEventStore(serviceDb);
      const stream = `login-${randomUUID()}`;
      await serviceStore.append(stream, 0, [event('A'), event('B')]);
      // Concurrent appends share one append_events_batch statement.
      await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          serviceStore.append(`login-${randomUUID()}`, 0, [event('C', { i })]),
        ),
      );
      expect(await serviceStore.readStream(stream)).toHaveLength(2);
      await expect(
        sql`insert into streams (stream_id, version) values (${`x-${randomUUID()}`}, 1)`.execute(serviceDb),
      ).rejects.toMatchObject({ code: '42501' });
      await expect(
        sql`insert into events (stream_id, stream_version, event_id, type, schema_version, data, metadata, hash)
          values (${stream}, 3, ${randomUUID()}, 'X', 1, '{}', '{}', ''::bytea)`.execute(serviceDb),
      ).rejects.toMatchObject({ code: '42501' });
    } finally {
      await serviceDb.destroy();
      await sql.raw(`drop role ${login}`).execute(database.db);
    }
  });

  it('is created idempotently: migrating another database in the same cluster reuses it', async () => {
    const other = await createTestDatabase('integrity_second');
    try {
      const { rows } = await sql<{
        n: number;
      }>`select count(*)::int as n from pg_roles where rolname = 'omni_service'`.execute(other.db);
      expect(rows[0]?.n).toBe(1);
    } finally {
      await other.destroy();
    }
  });
});

describe('verify', () => {
  it('reports an intact chain, through the function, the CLI and GET /verify', async () => {
    for (let i = 0; i < 5; i += 1) {
      await store.append(`chain-${randomUUID()}`, 0, [
        event('A', { i }),
        event('B', { i }),
        event('C', { i }),
      ]);
    }
    const result = await verifyChain(database.db, { batchSize: 4 });
    expect(result).toMatchObject({ ok: true });
    expect(result.eventsChecked).toBeGreaterThanOrEqual(15);

    const cli = output();
    expect(await runVerify({ db: database.db }, { json: true, out: cli.out })).toBe(0);
    expect(JSON.parse(cli.text())).toMatchObject({ ok: true, eventsChecked: result.eventsChecked });

    const response = await asAdmin().request('/verify');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(result);
  });

  it('pins an event altered with the trigger disabled to its exact global position', async () => {
    const stream = `tamper-${randomUUID()}`;
    await store.append(stream, 0, [
      event('A', { amount: 1 }),
      event('B', { amount: 2 }),
      event('C', { amount: 3 }),
    ]);
    // Later events in other streams must not hide the break, nor shift what is reported.
    await store.append(`after-${randomUUID()}`, 0, [event('A')]);
    const target = (await store.readStream(stream))[1];
    if (!target) throw new Error('no target');

    await sql`alter table events disable trigger events_immutable`.execute(database.db);
    await sql`update events set data = '{"amount": 2000}' where global_position = ${target.globalPosition}`.execute(
      database.db,
    );
    await sql`alter table events enable trigger events_immutable`.execute(database.db);

    const result = await verifyChain(database.db, { batchSize: 3 });
    expect(result).toMatchObject({
      ok: false,
      firstBrokenPosition: target.globalPosition,
      streamId: stream,
      streamVersion: 2,
      problem: 'hash-mismatch',
    });

    const cli = output();
    expect(await runVerify({ db: database.db }, { json: false, out: cli.out })).toBe(1);
    expect(cli.text()).toContain(`breaks at global position ${target.globalPosition}`);
    const response = await asAdmin().request('/verify');
    expect(await response.json()).toMatchObject({ ok: false, firstBrokenPosition: target.globalPosition });
  });
});
