import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore, type EventStore } from '../../events/event-store.ts';
import { ConcurrencyError, PartialDuplicateError } from '../../events/event-store-errors.ts';
import { verifyChain } from '../../events/verify-chain.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

// Group commit (events/group-commit.ts, migration 0050): appends made concurrently share one
// transaction, yet each keeps its own version check, result and error.

let database: TestDatabase;
let store: EventStore;

beforeAll(async () => {
  database = await createTestDatabase('event_store_group_commit');
  // One group in flight at a time, so appends made together are certain to share a transaction.
  store = createEventStore(database.db, { groupCommit: { maxInFlight: 1, maxGroupSize: 48 } });
});
afterAll(() => database?.destroy());

const event = (type: string, eventId?: string) => ({
  type,
  schemaVersion: 1,
  data: { type },
  metadata: { actor: 'tester' },
  ...(eventId ? { eventId } : {}),
});

const transactionsOf = async (streams: readonly string[]) => {
  const { rows } = await sql<{ n: number }>`
    select count(distinct transaction_id)::int as n from events where stream_id = any(${streams}::text[])
  `.execute(database.db);
  return rows[0]?.n ?? 0;
};

describe('group commit', () => {
  it('commits concurrent appends to many streams together, each at its own version', async () => {
    const streams = Array.from({ length: 40 }, () => `group-${randomUUID()}`);
    await Promise.all(streams.map((stream) => store.append(stream, 0, [event('Opened')])));
    const results = await Promise.all(streams.map((stream) => store.append(stream, 1, [event('Next')])));
    expect(results.map((result) => result.nextExpectedVersion)).toEqual(streams.map(() => 2));
    // 80 appends: far fewer transactions than appends (one per group).
    expect(await transactionsOf(streams)).toBeLessThanOrEqual(4);
    const positions = new Set(results.map((result) => result.lastGlobalPosition));
    expect(positions.size).toBe(streams.length);
    for (const stream of streams.slice(0, 3)) {
      expect((await store.readStream(stream)).map((e) => [e.type, e.streamVersion])).toEqual([
        ['Opened', 1],
        ['Next', 2],
      ]);
    }
    expect(await verifyChain(database.db)).toMatchObject({ ok: true });
  });

  it('refuses a stale append alone: the rest of its group commits', async () => {
    const streams = Array.from({ length: 10 }, () => `mixed-${randomUUID()}`);
    await Promise.all(streams.map((stream) => store.append(stream, 0, [event('Opened')])));
    const stale = streams[4] as string;
    const outcomes = await Promise.allSettled(
      streams.map((stream) => store.append(stream, stream === stale ? 0 : 1, [event('Next')])),
    );
    const refused = outcomes.flatMap((outcome, index) => (outcome.status === 'rejected' ? [index] : []));
    expect(refused).toEqual([4]);
    const reason = (outcomes[4] as PromiseRejectedResult).reason;
    expect(reason).toBeInstanceOf(ConcurrencyError);
    expect(reason).toMatchObject({ streamId: stale, expectedVersion: 0, actualVersion: 1 });
    expect(await store.readStream(stale)).toHaveLength(1);
    for (const stream of streams.filter((s) => s !== stale)) {
      expect(await store.readStream(stream)).toHaveLength(2);
    }
  });

  it('applies two appends to one stream in the order they were made, the second seeing the first', async () => {
    const stream = `same-${randomUUID()}`;
    await store.append(stream, 0, [event('Opened')]);
    const [first, second, conflicting] = await Promise.allSettled([
      store.append(stream, 1, [event('First')]),
      store.append(stream, 2, [event('Second')]),
      store.append(stream, 1, [event('Late')]),
    ]);
    expect(first).toMatchObject({ status: 'fulfilled', value: { nextExpectedVersion: 2 } });
    expect(second).toMatchObject({ status: 'fulfilled', value: { nextExpectedVersion: 3 } });
    expect(conflicting).toMatchObject({ status: 'rejected' });
    expect((conflicting as PromiseRejectedResult).reason).toBeInstanceOf(ConcurrencyError);
    expect((await store.readStream(stream)).map((e) => e.type)).toEqual(['Opened', 'First', 'Second']);
  });

  it('keeps retries idempotent inside a group: a whole retry returns the stored rows, a partial one is refused', async () => {
    const stream = `retry-${randomUUID()}`;
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    const stored = await store.append(stream, 0, [event('A', a), event('B', b)]);
    const other = `retry-other-${randomUUID()}`;
    const [retry, partial, unrelated] = await Promise.allSettled([
      store.append(stream, 0, [event('A', a), event('B', b)]),
      store.append(stream, 2, [event('B', b), event('C', c)]),
      store.append(other, 0, [event('Fine')]),
    ]);
    expect(retry).toMatchObject({
      status: 'fulfilled',
      value: { nextExpectedVersion: 2, lastGlobalPosition: stored.lastGlobalPosition },
    });
    expect((partial as PromiseRejectedResult).reason).toBeInstanceOf(PartialDuplicateError);
    expect(unrelated).toMatchObject({ status: 'fulfilled', value: { nextExpectedVersion: 1 } });
    expect(await store.readStream(stream)).toHaveLength(2);
  });

  it('fails only the append the database cannot store: its neighbours in the group commit', async () => {
    const streams = Array.from({ length: 5 }, () => `broken-${randomUUID()}`);
    // An event id that is no UUID fails the group's whole statement; the appends are then tried alone.
    const outcomes = await Promise.allSettled(
      streams.map((stream, index) =>
        store.append(stream, 0, [index === 2 ? event('Bad', 'not-a-uuid') : event('Good')]),
      ),
    );
    expect(outcomes.map((outcome) => outcome.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
    ]);
    expect((outcomes[2] as PromiseRejectedResult).reason).toMatchObject({ code: '22P02' });
    expect(await store.readStream(streams[2] as string)).toEqual([]);
    for (const stream of [0, 1, 3, 4].map((index) => streams[index] as string)) {
      expect((await store.readStream(stream)).map((e) => e.type)).toEqual(['Good']);
    }
  });

  it('interleaves with another store grouping the same streams in another order without deadlocking', async () => {
    const other = createEventStore(database.db, { groupCommit: { maxInFlight: 2 } });
    const streams = Array.from({ length: 30 }, () => `cross-${randomUUID()}`);
    await Promise.all(streams.map((stream) => store.append(stream, 0, [event('Opened')])));
    const rounds = 5;
    for (let round = 0; round < rounds; round += 1) {
      const outcomes = await Promise.allSettled([
        ...streams.map((stream) => store.append(stream, null, [event('Forward')])),
        ...[...streams].reverse().map((stream) => other.append(stream, null, [event('Backward')])),
      ]);
      expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toEqual([]);
    }
    for (const stream of streams.slice(0, 3)) {
      expect(await store.readStream(stream)).toHaveLength(1 + 2 * rounds);
    }
    expect(await verifyChain(database.db)).toMatchObject({ ok: true });
  });

  it('retries its appends one by one when Postgres breaks a deadlock by aborting the group', async () => {
    const [first, second] = [`deadlock-a-${randomUUID()}`, `deadlock-b-${randomUUID()}`].sort();
    await Promise.all([
      store.append(first as string, 0, [event('Opened')]),
      store.append(second as string, 0, [event('Opened')]),
    ]);
    // Another session locks the second stream's row, then (below) the first's: against a group that
    // holds the first and waits for the second, that is a deadlock. This session checks for it only
    // after 10 s, so Postgres aborts the group (checked after the default 1 s), not this session.
    const other = new pg.Client({ connectionString: database.url });
    await other.connect();
    try {
      await other.query(`set deadlock_timeout = '10s'`);
      await other.query('begin');
      await other.query('update streams set version = version where stream_id = $1', [second]);
      const group = Promise.allSettled([
        store.append(first as string, 1, [event('Next')]),
        store.append(second as string, 1, [event('Next')]),
      ]);
      // Wait until the group holds the first row and waits for the second (this database only: other
      // test files run beside this one).
      let waiting = false;
      for (let tries = 0; tries < 500 && !waiting; tries += 1) {
        const { rows } = await other.query<{ n: number }>(
          `select count(*)::int as n from pg_stat_activity
           where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`,
        );
        waiting = (rows[0]?.n ?? 0) > 0;
        if (!waiting) await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(waiting).toBe(true);
      const closing = other.query('update streams set version = version where stream_id = $1', [first]);
      // The group was aborted; its appends, retried one by one, wait for this session to finish.
      await closing;
      await other.query('commit');
      const outcomes = await group;
      expect(outcomes).toMatchObject([
        { status: 'fulfilled', value: { nextExpectedVersion: 2 } },
        { status: 'fulfilled', value: { nextExpectedVersion: 2 } },
      ]);
    } finally {
      await other.end();
    }
    // Each retried append committed on its own: two transactions, not one.
    const { rows } = await sql<{ n: number }>`
      select count(distinct transaction_id)::int as n from events
      where stream_id in (${first}, ${second}) and type = 'Next'
    `.execute(database.db);
    expect(rows[0]?.n).toBe(2);
  });

  it('sends a lone append in a transaction of its own', async () => {
    const stream = `lone-${randomUUID()}`;
    await store.append(stream, 0, [event('Alone')]);
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from events
      where transaction_id = (select transaction_id from events where stream_id = ${stream})
    `.execute(database.db);
    expect(rows[0]?.n).toBe(1);
  });
});
