import { randomUUID } from 'node:crypto';
import type { KyselyPlugin } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore, type EventStore, type RecordedEvent } from '../../events/event-store.ts';
import { startSubscription } from '../../events/subscription.ts';
import { eventually } from '../support/eventually.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

// A subscription that reads one kind of stream is woken by NOTIFY for its own streams only: the
// appends to every other stream (the payload names the stream) cost it no read.

let database: TestDatabase;
let store: EventStore;

beforeAll(async () => {
  database = await createTestDatabase('subscription_wakes');
  store = createEventStore(database.db);
});
afterAll(() => database?.destroy());

const tick = (n: number) => [{ type: 'Tick', schemaVersion: 1, data: { n } }];
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('subscription wake-ups', () => {
  it('reads on an append to its own streams, and not on appends to others', { timeout: 60_000 }, async () => {
    const mine = `mine-${randomUUID()}`;
    let statements = 0;
    const counting: KyselyPlugin = {
      transformQuery: (args) => {
        statements += 1;
        return args.node;
      },
      transformResult: async (args) => args.result,
    };
    const received: RecordedEvent[] = [];
    const subscription = await startSubscription({
      db: database.db.withPlugin(counting),
      connectionString: database.url,
      subscriptionId: `wakes-${randomUUID()}`,
      filter: { streamPrefix: mine },
      // Polls back off to a minute, so within the test only a notification makes it read.
      maxPollIntervalMs: 60_000,
      handle: async (events) => {
        received.push(...events);
      },
    });
    try {
      // Idle long enough for the backoff between empty reads to pass 3 s.
      await delay(3_500);
      const before = statements;
      // 30 commits to other streams, each announced: before, each woke it to an empty read.
      for (let n = 0; n < 30; n += 1) {
        await store.append(`other-${randomUUID()}`, 0, tick(n));
        await delay(20);
      }
      await delay(200);
      // At most the one poll its backoff may have come to meanwhile.
      expect(statements - before).toBeLessThanOrEqual(1);

      const woken = performance.now();
      await store.append(mine, 0, tick(0));
      await eventually(
        async () => received.length,
        (n) => n >= 1,
        10_000,
      );
      // Woken by its notification, well before the next poll (3 s or more away).
      expect(performance.now() - woken).toBeLessThan(2_000);
      expect(received.map((event) => event.streamId)).toEqual([mine]);
    } finally {
      await subscription.stop();
    }
  });
});
