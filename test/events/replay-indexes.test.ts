import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore, logStart } from '../../events/event-store.ts';
import { replayProjection } from '../../events/projections/replay.ts';
import { jobsProjection } from '../../jobs/jobs.projection.ts';
import { eventually } from '../support/eventually.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

// Replay builds the twin's secondary indexes after folding the log into it; the table swapped in
// must still be indexed exactly like the one it replaces.

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('replay_indexes');
});
afterAll(() => database?.destroy());

/** The live jobs table's indexes, without their names (a replayed table's names differ). */
const indexes = async () =>
  (
    await sql<{ index: string }>`
      select concat_ws(' ', case when i.indisprimary then 'primary' end, case when i.indisunique then 'unique' end,
                       regexp_replace(pg_get_indexdef(i.indexrelid), '^.* USING ', '')) as index
      from pg_index i where i.indrelid = 'jobs'::regclass order by 1
    `.execute(database.db)
  ).rows.map((row) => row.index);

describe('replay', () => {
  it('swaps in a table with the same indexes, which the listing query uses', async () => {
    const store = createEventStore(database.db);
    for (let i = 0; i < 5; i += 1) {
      await store.append(`job-${randomUUID()}`, 0, [
        {
          type: 'JobSubmitted',
          schemaVersion: 1,
          data: { spec: { image: 'img' } },
          metadata: { tenant: 'acme' },
        },
      ]);
    }
    const before = await indexes();
    expect(before.length).toBeGreaterThanOrEqual(3);

    // Global reads stop below the oldest transaction running anywhere on the server.
    await eventually(
      () => store.readAll(logStart, { limit: 100 }),
      (events) => events.length === 5,
    );
    await replayProjection(database.db, jobsProjection);
    expect(
      (await sql<{ n: number }>`select count(*)::int as n from jobs`.execute(database.db)).rows[0]?.n,
    ).toBe(5);
    expect(await indexes()).toEqual(before);

    // One transaction, so the planner setting and the EXPLAIN share a connection.
    const rows = await database.db.transaction().execute(async (trx) => {
      await sql`set local enable_seqscan = off`.execute(trx);
      const plan = await sql<{ 'QUERY PLAN': string }>`
        explain select id from jobs where tenant = 'acme' and status = 'queued' order by submitted_at desc, id desc
      `.execute(trx);
      return plan.rows;
    });
    expect(rows.map((row) => row['QUERY PLAN']).join('\n')).toMatch(/Index (Only )?Scan/);
  });
});
