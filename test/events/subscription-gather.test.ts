import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore, type EventStore, type RecordedEvent } from '../../events/event-store.ts';
import { startSubscription } from '../../events/subscription.ts';
import { eventually } from '../support/eventually.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

// gatherMs: a subscription under a steady trickle of commits reads them in a few batches (one read
// and one checkpoint write each) instead of one batch per commit, and still delivers every event.

let database: TestDatabase;
let store: EventStore;

beforeAll(async () => {
  database = await createTestDatabase('subscription_gather');
  store = createEventStore(database.db);
});
afterAll(() => database?.destroy());

/** Appends `count` events to one new stream, one commit each, `pauseMs` apart. */
async function trickle(stream: string, count: number, pauseMs: number) {
  for (let version = 0; version < count; version += 1) {
    await store.append(stream, version, [{ type: 'Tick', schemaVersion: 1, data: { n: version } }]);
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
}

async function batchesFor(gatherMs: number): Promise<number[]> {
  const stream = `trickle-${randomUUID()}`;
  const batches: number[] = [];
  const received: RecordedEvent[] = [];
  const subscription = await startSubscription({
    db: database.db,
    connectionString: database.url,
    subscriptionId: `gather-${randomUUID()}`,
    filter: { streamPrefix: stream },
    maxPollIntervalMs: 50,
    gatherMs,
    handle: async (events) => {
      batches.push(events.length);
      received.push(...events);
    },
  });
  try {
    // 100 ms apart: even on a loaded machine a subscription without gathering reads between commits.
    await trickle(stream, 10, 100);
    await eventually(
      async () => received.length,
      (n) => n >= 10,
      10_000,
    );
  } finally {
    await subscription.stop();
  }
  expect(received.map((event) => event.streamVersion)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  return batches;
}

describe('subscription gatherMs', () => {
  it('without it, a trickle of commits 100 ms apart is read commit by commit', async () => {
    expect((await batchesFor(0)).length).toBeGreaterThanOrEqual(5);
  });

  it('with it, the same trickle is read in a few batches, every event once and in order', async () => {
    expect((await batchesFor(1500)).length).toBeLessThanOrEqual(3);
  });
});
