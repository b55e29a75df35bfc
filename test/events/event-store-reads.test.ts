import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore, type EventStore, logStart } from '../../events/event-store.ts';
import { createUpcasters } from '../../events/upcasters.ts';
import { jobStreamId } from '../../jobs/job-stream.ts';
import { loadJobAt } from '../../jobs/load-job-at.ts';
import { eventually } from '../support/eventually.ts';
import { runJobTo } from '../support/job-workload.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

let database: TestDatabase;
let store: EventStore;

beforeAll(async () => {
  database = await createTestDatabase('event_reads');
  store = createEventStore(database.db);
});
afterAll(() => database?.destroy());

const event = (type: string, data: unknown = {}, schemaVersion = 1) => ({
  type,
  schemaVersion,
  data,
  metadata: {},
});

describe('upcasting', () => {
  // v1 held one `name`; v2 splits it; v3 adds a default. Registered as single steps, chained on read.
  const upcasters = createUpcasters([
    {
      type: 'TestPersonRegistered',
      fromVersion: 1,
      upcast: (data) => {
        const [first = '', ...rest] = String((data as { name: string }).name).split(' ');
        return { first, last: rest.join(' ') };
      },
    },
    {
      type: 'TestPersonRegistered',
      fromVersion: 2,
      upcast: (data) => ({ ...(data as object), title: null }),
    },
  ]);

  it('reads a stored v1 event as the current version through readStream and readAll, leaving the row as stored', async () => {
    const stream = `person-${randomUUID()}`;
    await store.append(stream, 0, [
      event('TestPersonRegistered', { name: 'Ada King Lovelace' }, 1),
      event('TestPersonRegistered', { first: 'Alan', last: 'Turing' }, 2),
    ]);
    const upcasting = createEventStore(database.db, { upcasters });

    const read = await upcasting.readStream(stream);
    expect(read.map((e) => [e.schemaVersion, e.data])).toEqual([
      [3, { first: 'Ada', last: 'King Lovelace', title: null }],
      [3, { first: 'Alan', last: 'Turing', title: null }],
    ]);
    const all = (
      await eventually(
        () => upcasting.readAll(logStart, { limit: 1000, streamPrefix: stream }),
        (events) => events.length >= 2,
      )
    ).map((e) => e.data);
    expect(all).toEqual(read.map((e) => e.data));

    const { rows } = await sql<{ schema_version: number; data: unknown }>`
      select schema_version, data from events where stream_id = ${stream} order by stream_version
    `.execute(database.db);
    expect(rows[0]).toEqual({ schema_version: 1, data: { name: 'Ada King Lovelace' } });
  });

  it('reads the events after a version (the tail of a snapshot) upcast too, with their real positions', async () => {
    const stream = `person-${randomUUID()}`;
    await store.append(stream, 0, [
      event('TestPersonRegistered', { first: 'Grace', last: 'Hopper' }, 2),
      event('TestPersonRegistered', { name: 'Edsger Wybe Dijkstra' }, 1),
      event('TestPersonRegistered', { first: 'Barbara', last: 'Liskov' }, 2),
    ]);
    const upcasting = createEventStore(database.db, { upcasters });
    const whole = await upcasting.readStream(stream);
    const tail = await upcasting.readStreamAfter(stream, 1);
    expect(tail).toEqual(whole.slice(1));
    expect(tail.map((e) => [e.streamVersion, e.data])).toEqual([
      [2, { first: 'Edsger', last: 'Wybe Dijkstra', title: null }],
      [3, { first: 'Barbara', last: 'Liskov', title: null }],
    ]);
    expect(tail.every((e) => e.globalPosition > 0)).toBe(true);
    expect(await upcasting.readStreamAfter(stream, 3)).toEqual([]);
  });

  it('refuses two upcasters from the same version', () => {
    const step = { type: 'T', fromVersion: 1, upcast: (data: unknown) => data };
    expect(() => createUpcasters([step, step])).toThrow(/two upcasters/);
  });
});

describe('readAll filters', () => {
  it('narrows by type and stream prefix, in commit order, and keeps the numeric limit signature', async () => {
    const prefix = `filter-${randomUUID().slice(0, 8)}-`;
    await store.append(`${prefix}a`, 0, [event('Opened'), event('Noted'), event('Closed')]);
    await store.append(`${prefix}b`, 0, [event('Opened'), event('Noted')]);
    await store.append(`other-${randomUUID()}`, 0, [event('Opened')]);
    // Global reads stop below the oldest running transaction, and a concurrent transaction (another
    // test's append, or a post-commit NOTIFY) may briefly hold it back: wait until all five are readable.
    for (
      let i = 0;
      i < 200 && (await store.readAll(logStart, { limit: 100, streamPrefix: prefix })).length < 5;
      i += 1
    ) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }

    const opened = await store.readAll(logStart, {
      limit: 100,
      types: ['Opened', 'Closed'],
      streamPrefix: prefix,
    });
    expect(opened.map((e) => [e.streamId.slice(prefix.length), e.type])).toEqual([
      ['a', 'Opened'],
      ['a', 'Closed'],
      ['b', 'Opened'],
    ]);
    const limited = await store.readAll(logStart, { limit: 2, streamPrefix: prefix });
    expect(limited.map((e) => e.type)).toEqual(['Opened', 'Noted']);
    // A prefix is matched literally: LIKE wildcards in it match nothing extra.
    expect(await store.readAll(logStart, { limit: 100, streamPrefix: 'filter-%' })).toEqual([]);
    expect((await store.readAll(logStart, { limit: 3 })).length).toBe(3);
  });

  it('leaves out the data keys a reader names, and only those, without touching the stored event', async () => {
    const stream = `omit-${randomUUID()}`;
    const data = { exitCode: 0, stdout: 'x'.repeat(10_000), stderr: 'warning', nested: { stdout: 'kept' } };
    await store.append(stream, 0, [event('Finished', data)]);
    const trimmed = await eventually(
      () => store.readAll(logStart, { limit: 10, streamPrefix: stream, omitDataKeys: ['stdout', 'stderr'] }),
      (events) => events.length === 1,
    );
    expect(trimmed[0]?.data).toEqual({ exitCode: 0, nested: { stdout: 'kept' } });
    const whole = await store.readAll(logStart, { limit: 10, streamPrefix: stream });
    expect(whole[0]?.data).toEqual(data);
    expect((await store.readStream(stream))[0]?.data).toEqual(data);
  });
});

describe('fold to position', () => {
  it('loads a job as it stood at any global position', async () => {
    const id = await runJobTo(store, 'succeeded');
    const history = await store.readStream(jobStreamId(id));
    expect(history.map((e) => e.type)).toEqual(['JobSubmitted', 'JobStarted', 'JobSucceeded']);
    const [submitted, started, succeeded] = history.map((e) => e.globalPosition) as [number, number, number];

    expect((await loadJobAt(store, id, submitted - 1)).state.status).toBe('initial');
    expect((await loadJobAt(store, id, submitted)).state.status).toBe('queued');
    const running = await loadJobAt(store, id, started);
    expect(running.state.status).toBe('running');
    expect(running.version).toBe(2);
    expect((await loadJobAt(store, id, succeeded + 1000)).state.status).toBe('succeeded');
  });
});
