import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore, type EventStore } from '../../events/event-store.ts';
import { ConcurrencyError } from '../../events/event-store-errors.ts';
import { verifyChain } from '../../events/verify-chain.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

// appendEach: appends to many streams in one statement, each checked and answered on its own.

let database: TestDatabase;
let store: EventStore;

beforeAll(async () => {
  database = await createTestDatabase('event_store_append_each');
  store = createEventStore(database.db);
});
afterAll(() => database?.destroy());

const event = (type: string, data: Record<string, unknown> = {}) => ({
  type,
  schemaVersion: 1,
  data: { type, ...data },
  metadata: { actor: 'tester' },
});

const countOf = async (streams: readonly string[]) => {
  const { rows } = await sql<{ events: number; transactions: number }>`
    select count(*)::int as events, count(distinct transaction_id)::int as transactions
    from events where stream_id = any(${streams}::text[])
  `.execute(database.db);
  return rows[0];
};

describe('appendEach', () => {
  it('appends to many streams in one transaction and answers in the order asked, whatever the ids', async () => {
    // Deliberately not in id order: the answer must still line up with the question.
    const streams = Array.from({ length: 300 }, () => `each-${randomUUID()}`).sort().reverse();
    const results = await store.appendEach(
      streams.map((streamId, index) => ({ streamId, expectedVersion: 0, events: [event('Made', { index })] })),
    );
    expect(results).toHaveLength(300);
    for (const result of results) expect(result).not.toBeInstanceOf(Error);
    expect(await countOf(streams)).toEqual({ events: 300, transactions: 1 });
    for (const [index, streamId] of streams.entries()) {
      const [stored] = await store.readStream(streamId);
      expect(stored?.data).toMatchObject({ index });
      const result = results[index] as { lastGlobalPosition: number };
      expect(result.lastGlobalPosition).toBe(stored?.globalPosition);
    }
    expect((await verifyChain(database.db)).ok).toBe(true);
  });

  it('refuses a conflicting append and an unreadable one alone, and commits the rest', async () => {
    const existing = `each-${randomUUID()}`;
    await store.append(existing, 0, [event('First')]);
    const fresh = [`each-${randomUUID()}`, `each-${randomUUID()}`];
    const results = await store.appendEach([
      { streamId: fresh[0] as string, expectedVersion: 0, events: [event('Made')] },
      // The stream is at version 1: expecting a new stream conflicts.
      { streamId: existing, expectedVersion: 0, events: [event('Again')] },
      // A lone surrogate cannot be stored as text: refused before the statement.
      { streamId: `each-${randomUUID()}`, expectedVersion: 0, events: [event('Bad', { text: '\ud800' })] },
      { streamId: fresh[1] as string, expectedVersion: 0, events: [event('Made'), event('MadeMore')] },
    ]);
    expect(results[0]).not.toBeInstanceOf(Error);
    expect(results[1]).toBeInstanceOf(ConcurrencyError);
    expect(results[2]).toBeInstanceOf(Error);
    expect(results[3]).toMatchObject({ nextExpectedVersion: 2 });
    expect((await store.readStream(existing)).map((stored) => stored.type)).toEqual(['First']);
    expect(await countOf(fresh)).toEqual({ events: 3, transactions: 1 });
  });

  it('inside a transaction, commits with it or not at all', async () => {
    const streams = [`each-${randomUUID()}`, `each-${randomUUID()}`];
    await expect(
      database.db.transaction().execute(async (trx) => {
        const results = await createEventStore(trx).appendEach(
          streams.map((streamId) => ({ streamId, expectedVersion: 0, events: [event('Made')] })),
        );
        expect(results.every((result) => !(result instanceof Error))).toBe(true);
        throw new Error('the caller changed its mind');
      }),
    ).rejects.toThrow('changed its mind');
    expect(await countOf(streams)).toEqual({ events: 0, transactions: 0 });
  });
});
