import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore, type EventStore } from '../../events/event-store.ts';
import { verifyStream } from '../../events/verify-stream.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

let database: TestDatabase;
let store: EventStore;

beforeAll(async () => {
  database = await createTestDatabase('verify-stream');
  store = createEventStore(database.db);
});
afterAll(() => database?.destroy());

const event = (type: string, data: unknown = {}) => ({
  type,
  schemaVersion: 1,
  data,
  metadata: { actor: 'tester' },
});

/** Three events in a stream of their own, and one after them in another stream. */
async function threeEvents(): Promise<string> {
  const stream = `verify-${randomUUID()}`;
  await store.append(stream, 0, [event('A', { n: 1 }), event('B', { n: 2 }), event('C', { n: 3 })]);
  await store.append(`other-${randomUUID()}`, 0, [event('A')]);
  return stream;
}

/** A superuser's rewrite: the immutability trigger off for this statement only. */
async function asSuperuser(statement: ReturnType<typeof sql>): Promise<void> {
  await sql`alter table events disable trigger events_immutable`.execute(database.db);
  try {
    await statement.execute(database.db);
  } finally {
    await sql`alter table events enable trigger events_immutable`.execute(database.db);
  }
}

describe('verifyStream', () => {
  it('holds for a stream as appended, naming its last position and version', async () => {
    const stream = await threeEvents();
    const last = (await store.readStream(stream)).at(-1);
    expect(await verifyStream(database.db, stream)).toEqual({
      verified: true,
      events: 3,
      lastPosition: last?.globalPosition,
      lastVersion: 3,
    });
    expect(await verifyStream(database.db, `never-${randomUUID()}`)).toEqual({
      verified: true,
      events: 0,
      lastPosition: 0,
      lastVersion: 0,
    });
  });

  it('pins altered data to its version, even when later events still link to the stored hash', async () => {
    const stream = await threeEvents();
    await asSuperuser(
      sql`update events set data = '{"n": 200}' where stream_id = ${stream} and stream_version = 2`,
    );
    expect(await verifyStream(database.db, stream)).toMatchObject({
      verified: false,
      events: 3,
      firstBadVersion: 2,
      problem: 'hash-mismatch',
    });
  });

  it('finds an event removed from the middle, and a tail removed behind the stream head', async () => {
    const middle = await threeEvents();
    await asSuperuser(sql`delete from events where stream_id = ${middle} and stream_version = 2`);
    expect(await verifyStream(database.db, middle)).toMatchObject({
      verified: false,
      events: 2,
      firstBadVersion: 3,
      problem: 'missing-previous',
    });

    const tail = await threeEvents();
    await asSuperuser(sql`delete from events where stream_id = ${tail} and stream_version = 3`);
    expect(await verifyStream(database.db, tail)).toMatchObject({
      verified: false,
      events: 2,
      lastVersion: 2,
      firstBadVersion: 3,
      problem: 'stream-head-mismatch',
    });
  });
});
