import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore, type EventStore } from '../events/event-store.ts';
import { verifyChain } from '../events/verify-chain.ts';
import { createAdminRoutes } from '../services/api/admin.routes.ts';
import { runVerify } from '../services/cli/verify.command.ts';
import { createTestDatabase, type TestDatabase } from './support/test-database.ts';

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

    const response = await createAdminRoutes({ db: database.db }).request('/verify');
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
    const response = await createAdminRoutes({ db: database.db }).request('/verify');
    expect(await response.json()).toMatchObject({ ok: false, firstBrokenPosition: target.globalPosition });
  });
});
