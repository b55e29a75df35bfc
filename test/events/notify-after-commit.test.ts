import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore } from '../../events/event-store.ts';
import { eventually } from '../support/eventually.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

let database: TestDatabase;
let listener: pg.Client;
const heard: string[] = [];

beforeAll(async () => {
  database = await createTestDatabase('commit_notifier');
  listener = new pg.Client({ connectionString: database.url });
  await listener.connect();
  listener.on('notification', (message) => {
    if (message.channel === 'omni_events' && message.payload) heard.push(message.payload);
  });
  await listener.query('listen omni_events');
});
afterAll(async () => {
  await listener?.end();
  await database?.destroy();
});

const event = { type: 'A', schemaVersion: 1, data: {} };

describe('commit notifications', () => {
  it('announce every stream of a burst of appends, coalesced into few statements', async () => {
    const store = createEventStore(database.db);
    const streams = Array.from({ length: 30 }, () => `burst-${randomUUID()}`);
    for (const stream of streams) await store.append(stream, 0, [event]);
    await eventually(
      async () => heard,
      (names) => streams.every((stream) => names.includes(stream)),
    );
    expect(streams.every((stream) => heard.includes(stream))).toBe(true);
  });

  it('announce appends made in a transaction once it commits, the second one too', async () => {
    const streams = [`trx-${randomUUID()}`, `trx-${randomUUID()}`];
    await database.db.transaction().execute(async (trx) => {
      const store = createEventStore(trx);
      for (const stream of streams) await store.append(stream, 0, [event]);
    });
    await eventually(
      async () => heard,
      (names) => streams.every((stream) => names.includes(stream)),
      3000,
    );
    expect(heard).toEqual(expect.arrayContaining(streams));
  });
});
