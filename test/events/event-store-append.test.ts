import { createHash, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore, type EventStore } from '../../events/event-store.ts';
import { ConcurrencyError, PartialDuplicateError } from '../../events/event-store-errors.ts';
import { verifyChain } from '../../events/verify-chain.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

// The paths of append_events (migration 0030): a new stream, one event onto an existing stream,
// several onto one, and no expected version; each must chain, conflict and retry alike.

let database: TestDatabase;
let store: EventStore;

beforeAll(async () => {
  database = await createTestDatabase('event_store_append');
  store = createEventStore(database.db);
});
afterAll(() => database?.destroy());

const event = (type: string, data: unknown = {}, eventId?: string) => ({
  type,
  schemaVersion: 1,
  data,
  metadata: { actor: 'tester' },
  ...(eventId ? { eventId } : {}),
});

describe('append paths', () => {
  it('chain every path so that verify holds, stream heads included', async () => {
    const stream = `paths-${randomUUID()}`;
    await store.append(stream, 0, [event('New')]);
    await store.append(stream, 1, [event('One')]);
    await store.append(stream, 2, [event('Many', { n: 1 }), event('Many', { n: 2 })]);
    await store.append(stream, null, [event('Any')]);
    await store.append(stream, null, [event('Any', { n: 1 }), event('Any', { n: 2 })]);
    const result = await store.append(`paths-${randomUUID()}`, 0, [event('A'), event('B'), event('C')]);
    await store.append(`paths-${randomUUID()}`, null, [event('A')]);
    expect(result.nextExpectedVersion).toBe(3);
    expect((await store.readStream(stream)).map((e) => [e.type, e.streamVersion])).toEqual([
      ['New', 1],
      ['One', 2],
      ['Many', 3],
      ['Many', 4],
      ['Any', 5],
      ['Any', 6],
      ['Any', 7],
    ]);
    expect(await verifyChain(database.db)).toMatchObject({ ok: true });
  });

  it('store the hash an auditor recomputes outside the database: SHA-256 over the previous hash and the fields', async () => {
    const stream = `audit-${randomUUID()}`;
    await store.append(stream, 0, [event('A')]);
    await store.append(stream, 1, [event('B')]);
    const { rows } = await sql<{
      stream_version: number;
      event_id: string;
      type: string;
      hash: Buffer;
      epoch: string;
    }>`
      select stream_version, event_id, type, hash, extract(epoch from recorded_at)::text as epoch
      from events where stream_id = ${stream} order by stream_version
    `.execute(database.db);
    let previous: Buffer = Buffer.alloc(0);
    for (const row of rows) {
      const fields = [
        stream,
        row.stream_version,
        row.event_id,
        row.type,
        1,
        '{}',
        '{"actor": "tester"}',
        row.epoch,
      ];
      const expected = createHash('sha256')
        .update(Buffer.concat([previous, Buffer.from(fields.join('\n'), 'utf8')]))
        .digest();
      expect(row.hash.equals(expected)).toBe(true);
      previous = row.hash;
    }
    expect(rows).toHaveLength(2);
  });

  it('let concurrent appends without an expected version all land, in one unbroken chain', async () => {
    const stream = `any-${randomUUID()}`;
    await Promise.all(
      Array.from({ length: 12 }, (_, i) => store.append(stream, null, [event('Any', { i })])),
    );
    await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        store.append(stream, null, [event('Two', { i }), event('Two', { i })]),
      ),
    );
    const events = await store.readStream(stream);
    expect(events.map((e) => e.streamVersion)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await verifyChain(database.db)).toMatchObject({ ok: true });
  });

  it('let exactly one of many concurrent creators of a stream win', async () => {
    const stream = `new-${randomUUID()}`;
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, () => store.append(stream, 0, [event('A')])),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    const refused = outcomes.filter((o) => o.status === 'rejected').map((o) => o.reason);
    expect(refused).toHaveLength(7);
    for (const reason of refused) expect(reason).toMatchObject({ expectedVersion: 0, actualVersion: 1 });
    expect(refused.every((reason) => reason instanceof ConcurrencyError)).toBe(true);
  });
});

describe('retries', () => {
  it('return the stored result for a retried batch onto an existing stream, writing nothing twice', async () => {
    const stream = `retry-${randomUUID()}`;
    await store.append(stream, 0, [event('A')]);
    const batch = [event('B', {}, randomUUID()), event('C', {}, randomUUID())];
    const first = await store.append(stream, 1, batch);
    expect(await store.append(stream, 1, batch)).toEqual(first);
    expect(await store.readStream(stream)).toHaveLength(3);
  });

  it('return the stored result for a retry without an expected version', async () => {
    const stream = `retry-any-${randomUUID()}`;
    const batch = [event('A', {}, randomUUID())];
    const first = await store.append(stream, null, batch);
    expect(await store.append(stream, null, batch)).toEqual(first);
    expect(await store.readStream(stream)).toHaveLength(1);
  });

  it('refuse an append reusing some stored event ids, at the current version or a stale one', async () => {
    const stream = `partial-${randomUUID()}`;
    const reused = randomUUID();
    await store.append(stream, 0, [event('A', {}, reused)]);
    for (const expected of [1, 0, null]) {
      const error = await store
        .append(stream, expected, [event('A', {}, reused), event('B')])
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(PartialDuplicateError);
    }
    // An id stored in another stream is refused too, instead of being written twice.
    const elsewhere = await store
      .append(`other-${randomUUID()}`, 0, [event('A', {}, reused)])
      .catch((caught: unknown) => caught);
    expect(elsewhere).toBeInstanceOf(PartialDuplicateError);
    expect(await store.readStream(stream)).toHaveLength(1);
  });
});
