import { randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore, type EventStore, type RecordedEvent } from '../../events/event-store.ts';
import { startSubscription } from '../../events/subscription.ts';
import type { Database } from '../../events/tables.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

let database: TestDatabase;
let store: EventStore;

beforeAll(async () => {
  database = await createTestDatabase('ordering');
  store = createEventStore(database.db);
});
afterAll(() => database?.destroy());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const event = (type: string, data: unknown = {}) => ({
  eventId: randomUUID(),
  type,
  schemaVersion: 1,
  data,
  metadata: {},
});

/**
 * The reader most people write first: resume after the highest position seen. It is wrong: a
 * position is taken when a transaction inserts, not when it commits, so a slow transaction can make
 * a lower position visible after a higher one was already read past.
 */
function startNaiveReader(db: Kysely<Database>) {
  const seen: { eventId: string; globalPosition: number }[] = [];
  let last = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const { rows } = await sql<{ event_id: string; global_position: number }>`
        select event_id, global_position from events where global_position > ${last} order by global_position limit 1000
      `.execute(db);
      for (const row of rows) seen.push({ eventId: row.event_id, globalPosition: row.global_position });
      last = rows.at(-1)?.global_position ?? last;
      await sleep(5);
    }
  })();
  return {
    seen,
    lastPosition: () => last,
    async stop() {
      running = false;
      await loop;
    },
  };
}

/** Opens a transaction that appends and then stays open, holding a low position uncommitted. */
async function holdAppend(streamId: string) {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  await client.query('begin');
  const payload = JSON.stringify([
    { event_id: randomUUID(), type: 'Held', schema_version: 1, data: {}, metadata: {} },
  ]);
  const { rows } = await client.query<{ global_position: string }>(
    'select global_position from append_events($1, 0, $2::jsonb)',
    [streamId, payload],
  );
  return {
    position: Number(rows[0]?.global_position),
    async commit() {
      await client.query('commit');
      await client.end();
    },
  };
}

async function runWriters(writers: number, appendsEach: number): Promise<void> {
  await Promise.all(
    Array.from({ length: writers }, async (_, writer) => {
      const stream = `writer-${writer}-${randomUUID()}`;
      for (let version = 0; version < appendsEach; version += 1)
        await store.append(stream, version, [event('Written')]);
    }),
  );
}

async function allEvents(): Promise<RecordedEvent[]> {
  const { rows } = await sql<{
    event_id: string;
    global_position: number;
  }>`select event_id, global_position from events`.execute(database.db);
  return rows.map((row) => ({ eventId: row.event_id, globalPosition: row.global_position }) as RecordedEvent);
}

async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 600; i += 1) {
    if (await condition()) return;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('global ordering under concurrent writers', () => {
  it('delivers every event exactly once, in commit-safe order, while a reader by position alone skips the late commits', async () => {
    const received: RecordedEvent[] = [];
    const subscription = await startSubscription({
      db: database.db,
      connectionString: database.url,
      subscriptionId: `gap-test-${randomUUID()}`,
      batchSize: 50,
      maxPollIntervalMs: 50,
      handle: async (events) => {
        received.push(...events);
      },
    });
    const naive = startNaiveReader(database.db);
    try {
      await runWriters(4, 5);
      // Three transactions take low positions and stay open while 16 writers commit higher ones.
      const held = [await holdAppend('held-a'), await holdAppend('held-b'), await holdAppend('held-c')];
      await runWriters(16, 15);
      const highest = Math.max(...(await allEvents()).map((e) => e.globalPosition));
      await until(() => naive.lastPosition() >= highest, 'the naive reader to read past the held positions');
      await sleep(200);
      // Nothing written after the oldest held transaction began may be delivered while it is open.
      const oldestHeld = Math.min(...held.map((h) => h.position));
      expect(received.filter((e) => e.globalPosition > oldestHeld)).toEqual([]);

      for (const transaction of held.reverse()) await transaction.commit();
      await runWriters(8, 5);

      const stored = await allEvents();
      await until(() => received.length >= stored.length, 'the subscriber to receive every event');
      await sleep(300); // a duplicate would arrive now, if any
      const highestNow = Math.max(...stored.map((e) => e.globalPosition));
      await until(() => naive.lastPosition() >= highestNow, 'the naive reader to reach the head');

      // Exactly once: every stored event, no duplicates.
      expect(received.length).toBe(stored.length);
      expect(new Set(received.map((e) => e.eventId))).toEqual(new Set(stored.map((e) => e.eventId)));
      // Commit-safe order: strictly increasing (transaction id, position); per stream, by version.
      for (let i = 1; i < received.length; i += 1) {
        const [before, after] = [received[i - 1] as RecordedEvent, received[i] as RecordedEvent];
        const [xidBefore, xidAfter] = [BigInt(before.transactionId), BigInt(after.transactionId)];
        expect(
          xidAfter > xidBefore || (xidAfter === xidBefore && after.globalPosition > before.globalPosition),
        ).toBe(true);
      }
      const versions = new Map<string, number>();
      for (const e of received) {
        expect(e.streamVersion).toBe((versions.get(e.streamId) ?? 0) + 1);
        versions.set(e.streamId, e.streamVersion);
      }

      // The failure mode this design exists for: by position alone, the late commits are lost. (The
      // free-running writers often lose a few more on their own: any commit racing another does it.)
      const naiveIds = new Set(naive.seen.map((e) => e.globalPosition));
      const skipped = stored.filter((e) => !naiveIds.has(e.globalPosition)).map((e) => e.globalPosition);
      expect(skipped).toEqual(expect.arrayContaining(held.map((h) => h.position)));
    } finally {
      await naive.stop();
      await subscription.stop();
    }
  });
});
