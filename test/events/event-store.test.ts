import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore, type EventStore, logStart, type RecordedEvent } from '../../events/event-store.ts';
import { ConcurrencyError } from '../../events/event-store-errors.ts';
import { eventually } from '../support/eventually.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

let database: TestDatabase;
let store: EventStore;

beforeAll(async () => {
  database = await createTestDatabase('event_store');
  store = createEventStore(database.db);
});
afterAll(() => database?.destroy());

const event = (type: string, data: unknown = {}) => ({
  type,
  schemaVersion: 1,
  data,
  metadata: { actor: 'tester' },
});

describe('event store', () => {
  it('appends to a new stream and reads it back in order', async () => {
    const stream = `test-${randomUUID()}`;
    const result = await store.append(stream, 0, [event('A', { n: 1 }), event('B', { n: 2 })]);
    expect(result.nextExpectedVersion).toBe(2);
    const events = await store.readStream(stream);
    expect(events.map((e) => [e.type, e.streamVersion, e.data])).toEqual([
      ['A', 1, { n: 1 }],
      ['B', 2, { n: 2 }],
    ]);
    expect(events[0]?.metadata).toEqual({ actor: 'tester' });
  });

  it('refuses an append at a stale version with a typed error', async () => {
    const stream = `test-${randomUUID()}`;
    await store.append(stream, 0, [event('A')]);
    const conflict = await store.append(stream, 0, [event('B')]).catch((error: unknown) => error);
    expect(conflict).toBeInstanceOf(ConcurrencyError);
    expect(conflict).toMatchObject({ streamId: stream, expectedVersion: 0, actualVersion: 1 });
    expect(await store.readStream(stream)).toHaveLength(1);
  });

  it('lets exactly one of many concurrent writers at the same version win', async () => {
    const stream = `test-${randomUUID()}`;
    await store.append(stream, 0, [event('A')]);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 10 }, () => store.append(stream, 1, [event('B')])),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    expect(
      outcomes.filter((o) => o.status === 'rejected' && o.reason instanceof ConcurrencyError),
    ).toHaveLength(9);
  });

  it('treats a retried append with the same event ids as already done', async () => {
    const stream = `test-${randomUUID()}`;
    const eventId = randomUUID();
    const first = await store.append(stream, 0, [{ ...event('A'), eventId }]);
    const retry = await store.append(stream, 0, [{ ...event('A'), eventId }]);
    expect(retry).toEqual(first);
    expect(await store.readStream(stream)).toHaveLength(1);
  });

  it('refuses UPDATE, DELETE and TRUNCATE of events in the database itself', async () => {
    const stream = `test-${randomUUID()}`;
    await store.append(stream, 0, [event('A')]);
    await expect(
      sql`update events set type = 'X' where stream_id = ${stream}`.execute(database.db),
    ).rejects.toThrow(/immutable/);
    await expect(sql`delete from events where stream_id = ${stream}`.execute(database.db)).rejects.toThrow(
      /immutable/,
    );
    await expect(sql`truncate events`.execute(database.db)).rejects.toThrow(/immutable/);
    expect(await store.readStream(stream)).toHaveLength(1);
  });

  it('reads the global log in commit order, resuming after a position', async () => {
    const stream = `test-${randomUUID()}`;
    await store.append(stream, 0, [event('A'), event('B'), event('C')]);
    const mineIn = (events: readonly RecordedEvent[]) => events.filter((e) => e.streamId === stream);
    const all = await eventually(
      () => store.readAll(logStart, { limit: 10_000 }),
      (events) => mineIn(events).length === 3,
    );
    const mine = mineIn(all);
    expect(mine.map((e) => e.type)).toEqual(['A', 'B', 'C']);
    const first = mine[0];
    if (!first) throw new Error('no events read');
    const rest = await store.readAll(
      { transactionId: first.transactionId, globalPosition: first.globalPosition },
      { limit: 10_000 },
    );
    expect(rest.filter((e) => e.streamId === stream).map((e) => e.type)).toEqual(['B', 'C']);
  });
});
