import { randomUUID } from 'node:crypto';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore, type EventStore } from '../../events/event-store.ts';
import type { Database } from '../../events/tables.ts';
import { createUpcasters } from '../../events/upcasters.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

// Concurrent readStream calls on one store share a query; each caller still gets exactly its own
// stream, in version order.

let database: TestDatabase;
let counted: Kysely<Database>;
let queries: string[];

beforeAll(async () => {
  database = await createTestDatabase('event_store_grouped_reads');
  queries = [];
  const pool = new pg.Pool({ connectionString: database.url, max: 4 });
  // The database is dropped with force at the end: a connection it ends then is not a failure here
  // (unheard, pg raises it as an uncaught error and fails the whole run).
  pool.on('error', () => undefined);
  counted = new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    log: (event) => {
      if (event.level === 'query') queries.push(event.query.sql);
    },
  });
});
afterAll(async () => {
  await counted?.destroy();
  await database?.destroy();
});

const event = (type: string, n: number) => ({ type, schemaVersion: 1, data: { n } });

async function seed(store: EventStore, streams: readonly string[]) {
  for (const [index, stream] of streams.entries()) {
    await store.append(stream, 0, [event('A', index), event('B', index), event('C', index)]);
  }
}

describe('grouped stream reads', () => {
  it('answers concurrent reads of many streams with one query, each reader its own stream in order', async () => {
    const store = createEventStore(counted, { groupReads: { maxInFlight: 1 } });
    const streams = Array.from({ length: 30 }, () => `read-${randomUUID()}`);
    await seed(store, streams);
    const missing = `read-missing-${randomUUID()}`;
    queries.length = 0;
    const results = await Promise.all(
      [...streams, streams[0] as string, missing].map((s) => store.readStream(s)),
    );
    const reads = queries.filter((text) => text.includes('from "events"'));
    // One lone read goes first; everything that arrived meanwhile shares the next query.
    expect(reads.length).toBeLessThanOrEqual(2);
    streams.forEach((stream, index) => {
      expect(results[index]?.map((e) => [e.streamId, e.type, e.streamVersion, e.data])).toEqual([
        [stream, 'A', 1, { n: index }],
        [stream, 'B', 2, { n: index }],
        [stream, 'C', 3, { n: index }],
      ]);
    });
    expect(results[streams.length]).toEqual(results[0]);
    expect(results[streams.length + 1]).toEqual([]);
  });

  it('sends one query per read when grouping is off', async () => {
    const store = createEventStore(counted, { groupReads: false });
    const streams = Array.from({ length: 5 }, () => `single-${randomUUID()}`);
    await seed(store, streams);
    queries.length = 0;
    await Promise.all(streams.map((s) => store.readStream(s)));
    expect(queries.filter((text) => text.includes('from "events"'))).toHaveLength(5);
  });

  it('fails only the reader of a stream whose event cannot be brought up to date', async () => {
    const upcasters = createUpcasters([
      {
        type: 'Broken',
        fromVersion: 1,
        upcast: () => {
          throw new Error('no way to read this version');
        },
      },
    ]);
    const store = createEventStore(counted, { upcasters, groupReads: { maxInFlight: 1 } });
    const good = `good-${randomUUID()}`;
    const broken = `broken-${randomUUID()}`;
    await store.append(good, 0, [event('Fine', 1)]);
    await store.append(broken, 0, [event('Broken', 1)]);
    const [first, second, third] = await Promise.allSettled([
      store.readStream(good),
      store.readStream(broken),
      store.readStream(good),
    ]);
    expect(first).toMatchObject({ status: 'fulfilled' });
    expect(second).toMatchObject({ status: 'rejected', reason: { message: 'no way to read this version' } });
    expect(third).toMatchObject({ status: 'fulfilled' });
  });

  it('reads inside a transaction see its own uncommitted appends', async () => {
    const stream = `trx-${randomUUID()}`;
    await counted.transaction().execute(async (trx) => {
      const inside = createEventStore(trx);
      await inside.append(stream, 0, [event('Uncommitted', 1)]);
      const [events] = await Promise.all([inside.readStream(stream)]);
      expect(events?.map((e) => e.type)).toEqual(['Uncommitted']);
    });
  });
});
