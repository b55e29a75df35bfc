import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { advanceCheckpoint, loadCheckpoint } from '../../events/checkpoints.ts';
import { createEventStore, type EventStore, logStart } from '../../events/event-store.ts';
import { type RunningProjection, startProjectionRunner } from '../../events/projections/projection-runner.ts';
import { replayProjection } from '../../events/projections/replay.ts';
import { loadJob } from '../../jobs/job-stream.ts';
import { jobsProjection } from '../../jobs/jobs.projection.ts';
import { runReplay } from '../../services/cli/replay.command.ts';
import { runJobTo, runMixedWorkload } from '../support/job-workload.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

let database: TestDatabase;
let store: EventStore;
let runner: RunningProjection;
const errors: unknown[] = [];

beforeAll(async () => {
  database = await createTestDatabase('jobs_projection');
  store = createEventStore(database.db);
  runner = await startProjectionRunner({
    db: database.db,
    connectionString: database.url,
    projection: jobsProjection,
    batchSize: 7, // small batches: many checkpoint moves, and batches that split a job's history
    maxPollIntervalMs: 100,
    onError: (error) => errors.push(error),
  });
});
afterAll(async () => {
  await runner?.stop();
  await database?.destroy();
});

const snapshot = async () =>
  (await sql<Record<string, unknown>>`select * from jobs order by id`.execute(database.db)).rows;

/** Waits until every job stream is folded into `jobs` at its current version. */
async function caughtUp(): Promise<void> {
  for (let i = 0; i < 400; i += 1) {
    const { rows } = await sql<{ behind: number }>`
      select count(*)::int as behind from streams s
      left join jobs j on 'job-' || j.id = s.stream_id
      where s.stream_id like 'job-%' and (j.id is null or j.version <> s.version)
    `.execute(database.db);
    if (rows[0]?.behind === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the projection did not catch up');
}

describe('jobs projection', () => {
  it('folds a mixed workload into rows that agree with the job aggregate', async () => {
    const ids = await runMixedWorkload(store, 40);
    await caughtUp();
    const rows = new Map((await snapshot()).map((row) => [row.id as string, row]));
    expect(rows.size).toBe(40);
    for (const id of ids) {
      const { state, version } = await loadJob(store, id);
      if (state.status === 'initial') throw new Error('not submitted');
      expect(rows.get(id)).toMatchObject({
        status: state.status,
        attempt: state.attempt,
        image: state.spec.image,
        version,
      });
    }
    const failed = [...rows.values()].filter((row) => row.status === 'failed');
    expect(new Set(failed.map((row) => row.failure_reason))).toEqual(new Set(['exit-code', 'timeout']));
    expect([...rows.values()].some((row) => row.tenant === 'acme')).toBe(true);
    expect(errors).toEqual([]);
  });

  it('lets one runner own the projection; a standby takes over when it stops', async () => {
    const standby = await startProjectionRunner({
      db: database.db,
      connectionString: database.url,
      projection: jobsProjection,
      ownershipRetryMs: 50,
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect([runner.isOwner(), standby.isOwner()]).toEqual([true, false]);
    await runner.stop();
    const id = await runJobTo(store, 'succeeded');
    await caughtUp();
    expect(standby.isOwner()).toBe(true);
    expect((await sql`select status from jobs where id = ${id}`.execute(database.db)).rows).toEqual([
      { status: 'succeeded' },
    ]);
    runner = standby;
  });

  it('rebuilds from scratch into exactly the live rows and swaps in while readers and writers go on', async () => {
    await runMixedWorkload(store, 30);
    await caughtUp();
    const live = await snapshot();
    // The dispatcher has side effects: a replay must never move its checkpoint.
    const dispatcherAt = { transactionId: '1', globalPosition: 3 };
    await advanceCheckpoint(database.db, 'dispatcher', logStart, dispatcherAt);

    // A reader runs throughout: it must never fail, nor see the table empty or half built.
    let reading = true;
    let reads = 0;
    const readerErrors: unknown[] = [];
    const reader = (async () => {
      while (reading) {
        try {
          const { rows } = await sql<{ n: number }>`select count(*)::int as n from jobs`.execute(database.db);
          if ((rows[0]?.n ?? 0) < live.length) readerErrors.push(new Error(`saw ${rows[0]?.n} rows`));
          reads += 1;
        } catch (error) {
          readerErrors.push(error);
        }
      }
    })();

    try {
      const result = await replayProjection(database.db, jobsProjection, { batchSize: 16 });
      const { rows: count } = await sql<{ n: number }>`select count(*)::int as n from events`.execute(
        database.db,
      );
      expect(result.events).toBe(count[0]?.n);
      expect(await snapshot()).toEqual(live);
      expect(await loadCheckpoint(database.db, jobsProjection.checkpointId)).toEqual(result.position);
      expect(await loadCheckpoint(database.db, 'dispatcher')).toEqual(dispatcherAt);

      // Writes during a replay reach the swapped-in table: folded by the replay or by the runner,
      // which resumes from the reset checkpoint.
      const [during] = await Promise.all([
        replayProjection(database.db, jobsProjection, { batchSize: 16 }),
        runMixedWorkload(store, 20),
      ]);
      expect(during.rebuiltAs).toMatch(/^jobs_rebuild_\d+$/);
      await caughtUp();
    } finally {
      reading = false;
      await reader;
    }
    expect(readerErrors).toEqual([]);
    expect(reads).toBeGreaterThan(0);

    const afterWrites = await snapshot();
    expect(afterWrites.length).toBe(live.length + 20);
    await replayProjection(database.db, jobsProjection);
    expect(await snapshot()).toEqual(afterWrites);
    const { rows: leftovers } =
      await sql`select tablename from pg_tables where tablename like 'jobs_%'`.execute(database.db);
    expect(leftovers).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('omni replay prints JSON for scripts and refuses an unknown projection', async () => {
    let text = '';
    const out = { write: (chunk: string) => (text += chunk) };
    expect(await runReplay({ db: database.db }, { projection: 'jobs', json: true, out })).toBe(0);
    expect(JSON.parse(text)).toMatchObject({ ok: true, projection: 'jobs', events: expect.any(Number) });
    // A usage error (exit 2), naming the projections it knows; the CLI prints it as one line.
    await expect(
      runReplay({ db: database.db }, { projection: 'dispatcher', json: false, out }),
    ).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringMatching(/unknown projection dispatcher; known: jobs/),
    });
  });
});
