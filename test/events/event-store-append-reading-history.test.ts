import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore, type EventStore, type RecordedEvent } from '../../events/event-store.ts';
import { ConcurrencyError } from '../../events/event-store-errors.ts';
import { verifyChain } from '../../events/verify-chain.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

// appendReadingHistory: an append at a version that gives back the stream's events before it, read
// by the statement that appends (a worker starts an attempt and learns the job in one round trip).

let database: TestDatabase;
let grouped: EventStore;
let ungrouped: EventStore;

beforeAll(async () => {
  database = await createTestDatabase('event_store_append_reading_history');
  grouped = createEventStore(database.db, { groupCommit: { maxInFlight: 1, maxGroupSize: 48 } });
  ungrouped = createEventStore(database.db, { groupCommit: false });
});
afterAll(() => database?.destroy());

const event = (type: string) => ({
  type,
  schemaVersion: 1,
  data: { type, at: type.length },
  metadata: { actor: 'tester' },
});

/** What a read gives, to compare a history with. */
const shape = (events: readonly RecordedEvent[]) =>
  events.map(({ recordedAt, ...rest }) => ({ ...rest, recordedAt: recordedAt.getTime() }));

async function streamOf(store: EventStore, length: number) {
  const stream = `history-${randomUUID()}`;
  for (let version = 0; version < length; version++)
    await store.append(stream, version, [event(`E${version + 1}`)]);
  return stream;
}

describe('appendReadingHistory', () => {
  for (const [name, store] of [
    ['alone', () => ungrouped],
    ['through group commit', () => grouped],
  ] as const) {
    it(`${name}: appends at the version and gives back exactly the events before it, as a read does`, async () => {
      const stream = await streamOf(store(), 3);
      const before = await store().readStream(stream);
      const { appended, history } = await store().appendReadingHistory(stream, 3, [event('Started')]);
      expect(appended.nextExpectedVersion).toBe(4);
      expect(shape(history)).toEqual(shape(before));
      expect(history.map((e) => e.type)).toEqual(['E1', 'E2', 'E3']);
      const after = await store().readStream(stream);
      expect(after.map((e) => e.type)).toEqual(['E1', 'E2', 'E3', 'Started']);
      expect(after.at(-1)?.globalPosition).toBe(appended.lastGlobalPosition);
    });

    it(`${name}: refuses a stale version with ConcurrencyError and appends nothing`, async () => {
      const stream = await streamOf(store(), 2);
      const stale = store().appendReadingHistory(stream, 1, [event('Started')]);
      await expect(stale).rejects.toBeInstanceOf(ConcurrencyError);
      await expect(stale).rejects.toMatchObject({ streamId: stream, expectedVersion: 1, actualVersion: 2 });
      expect(await store().readStream(stream)).toHaveLength(2);
    });
  }

  it('gives each append of a group its own history; plain appends in the group get none and commit with it', async () => {
    const streams = await Promise.all(
      Array.from({ length: 20 }, (_, index) => streamOf(grouped, 1 + (index % 4))),
    );
    const lengths = streams.map((_, index) => 1 + (index % 4));
    const plain = await Promise.all(Array.from({ length: 10 }, () => streamOf(grouped, 1)));
    const [withHistory, without] = await Promise.all([
      Promise.all(
        streams.map((stream, index) =>
          grouped.appendReadingHistory(stream, lengths[index] as number, [event('Started')]),
        ),
      ),
      Promise.all(plain.map((stream) => grouped.append(stream, 1, [event('Next')]))),
    ]);
    withHistory.forEach(({ history }, index) => {
      expect(history.map((e) => e.streamId)).toEqual(Array(lengths[index]).fill(streams[index]));
      expect(history.map((e) => e.streamVersion)).toEqual(
        Array.from({ length: lengths[index] as number }, (_, v) => v + 1),
      );
    });
    expect(without.map((result) => result.nextExpectedVersion)).toEqual(plain.map(() => 2));
    // 30 appends made together: a few transactions, not one each.
    const { rows } = await sql<{ n: number }>`
      select count(distinct transaction_id)::int as n from events
      where stream_id = any(${[...streams, ...plain]}::text[]) and type in ('Started', 'Next')
    `.execute(database.db);
    expect(rows[0]?.n).toBeLessThanOrEqual(4);
    expect(await verifyChain(database.db)).toMatchObject({ ok: true });
  });

  it('refuses only the stale one of a group; the others append and read their histories', async () => {
    const streams = await Promise.all(Array.from({ length: 8 }, () => streamOf(grouped, 2)));
    const stale = streams[3] as string;
    const outcomes = await Promise.allSettled(
      streams.map((stream) =>
        grouped.appendReadingHistory(stream, stream === stale ? 1 : 2, [event('Started')]),
      ),
    );
    expect(outcomes.map((outcome) => outcome.status)).toEqual(
      streams.map((stream) => (stream === stale ? 'rejected' : 'fulfilled')),
    );
    expect((outcomes[3] as PromiseRejectedResult).reason).toBeInstanceOf(ConcurrencyError);
    for (const outcome of outcomes)
      if (outcome.status === 'fulfilled')
        expect(outcome.value.history.map((e) => e.type)).toEqual(['E1', 'E2']);
  });

  it('two starts at one version: one appends with its history, the other is refused', async () => {
    const stream = await streamOf(grouped, 1);
    const outcomes = await Promise.allSettled([
      grouped.appendReadingHistory(stream, 1, [event('Started')]),
      grouped.appendReadingHistory(stream, 1, [event('Started')]),
    ]);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    expect(
      outcomes
        .filter((outcome) => outcome.status === 'rejected')
        .map((o) => (o as PromiseRejectedResult).reason),
    ).toEqual([expect.any(ConcurrencyError)]);
    expect((await grouped.readStream(stream)).map((e) => e.type)).toEqual(['E1', 'Started']);
  });
});
