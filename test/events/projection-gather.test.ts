import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore, type EventStore } from '../../events/event-store.ts';
import type { Projection } from '../../events/projections/projection.ts';
import { startProjectionRunner } from '../../events/projections/projection-runner.ts';
import { eventually } from '../support/eventually.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

// gatherMs for projections: under a trickle of commits the runner folds several commits per
// transaction, and the table still ends up with every event once.

let database: TestDatabase;
let store: EventStore;

beforeAll(async () => {
  database = await createTestDatabase('projection_gather');
  store = createEventStore(database.db);
  await sql`create table ticks (stream_id text not null, version bigint not null, primary key (stream_id, version))`.execute(
    database.db,
  );
});
afterAll(() => database?.destroy());

/** A projection of one stream's ticks into `ticks`, counting the batches it is handed. */
function tickProjection(stream: string, batches: number[]): Projection {
  return {
    name: `ticks-${stream}`,
    checkpointId: `ticks-${stream}`,
    table: 'ticks',
    streamPrefix: stream,
    async apply(db, table, events) {
      batches.push(events.length);
      for (const event of events) {
        await sql`insert into ${sql.table(table)} (stream_id, version) values (${event.streamId}, ${event.streamVersion})`.execute(
          db,
        );
      }
    },
  };
}

async function batchesFor(gatherMs: number): Promise<{ batches: number[]; appendingMs: number }> {
  const stream = `ticks-${randomUUID()}`;
  const batches: number[] = [];
  const runner = await startProjectionRunner({
    db: database.db,
    connectionString: database.url,
    projection: tickProjection(stream, batches),
    maxPollIntervalMs: 50,
    gatherMs,
  });
  const appendingFrom = performance.now();
  let appendingMs = 0;
  try {
    for (let version = 0; version < 10; version += 1) {
      await store.append(stream, version, [{ type: 'Tick', schemaVersion: 1, data: { n: version } }]);
      // Far apart enough that a runner on a loaded machine still wakes between two of them.
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    appendingMs = performance.now() - appendingFrom;
    await eventually(
      async () => {
        const { rows } = await sql<{ n: number }>`
          select count(*)::int as n from ticks where stream_id = ${stream}
        `.execute(database.db);
        return rows[0]?.n ?? 0;
      },
      (n) => n >= 10,
      10_000,
    );
  } finally {
    await runner.stop();
  }
  const { rows } = await sql<{ version: number }>`
    select version from ticks where stream_id = ${stream} order by version
  `.execute(database.db);
  expect(rows.map((row) => row.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  return { batches, appendingMs };
}

describe('projection runner gatherMs', () => {
  it('without it, a trickle of commits 100 ms apart is folded commit by commit', async () => {
    expect((await batchesFor(0)).batches.length).toBeGreaterThanOrEqual(5);
  });

  it('with it, the same trickle is folded in a few transactions, every event once', async () => {
    const { batches, appendingMs } = await batchesFor(500);
    // One transaction per gather window the trickle spanned (a loaded machine stretches the
    // trickle, not the windows), and the one after it: never commit by commit.
    expect(batches.length).toBeLessThanOrEqual(Math.ceil(appendingMs / 500) + 1);
    expect(batches.length).toBeLessThan(10);
  });
});
