// Event store benchmark: `node bench/events.bench.ts [--quick]`. Creates its own database, prints a
// table of figures next to a raw-pg baseline measured in the same run, and drops the database.
import { randomBytes, randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import { createDatabase } from '../events/database.ts';
import { createEventStore } from '../events/event-store.ts';
import { migrateToLatest } from '../events/migrator.ts';
import { replayProjection } from '../events/projections/replay.ts';
import type { Database } from '../events/tables.ts';
import { jobsProjection } from '../jobs/jobs.projection.ts';
import { benchServerUrl, onServer } from './bench-database.ts';

const quick = process.argv.includes('--quick');
const serverUrl = benchServerUrl;
const seconds = quick ? 1.5 : 4;
const concurrencies = [1, 8, 32];
const replaySizes = quick ? [10_000, 100_000] : [100_000, 1_000_000];
const name = `omni_bench_${randomBytes(4).toString('hex')}`;

/** Runs `writers` loops of `once` for `duration` seconds; returns operations and elapsed seconds. */
async function run(
  writers: number,
  duration: number,
  once: (writer: number) => Promise<number>,
): Promise<{ readonly count: number; readonly elapsed: number }> {
  const deadline = performance.now() + duration * 1000;
  const started = performance.now();
  const counts = await Promise.all(
    Array.from({ length: writers }, async (_, writer) => {
      let count = 0;
      while (performance.now() < deadline) count += await once(writer);
      return count;
    }),
  );
  return { count: counts.reduce((a, b) => a + b, 0), elapsed: (performance.now() - started) / 1000 };
}

/** Operations per second of `once` over the bench duration. */
async function rate(writers: number, once: (writer: number) => Promise<number>): Promise<number> {
  const { count, elapsed } = await run(writers, seconds, once);
  return count / elapsed;
}

/**
 * Operations per second of each side, each run for the bench duration in alternating slices (the
 * order reversed every other slice: ABBA), so that a busy spell on a shared machine falls on all
 * alike instead of on whichever happened to run then.
 */
async function compare<Side extends string>(
  writers: number,
  sides: Record<Side, (writer: number) => Promise<number>>,
): Promise<Record<Side, number>> {
  const slices = 8;
  const names = Object.keys(sides) as Side[];
  const totals = new Map(names.map((side) => [side, { count: 0, elapsed: 0 }]));
  for (let slice = 0; slice < slices; slice += 1) {
    const order = slice % 4 === 0 || slice % 4 === 3 ? names : [...names].reverse();
    for (const side of order) {
      const { count, elapsed } = await run(writers, seconds / slices, sides[side]);
      const total = totals.get(side);
      if (total) {
        total.count += count;
        total.elapsed += elapsed;
      }
    }
  }
  return Object.fromEntries(
    names.map((side) => {
      const total = totals.get(side);
      return [side, total ? total.count / total.elapsed : 0];
    }),
  ) as Record<Side, number>;
}

const format = (n: number) => Math.round(n).toLocaleString('en');
const rows: string[][] = [];
const report = (...cells: string[]) => {
  rows.push(cells);
  process.stderr.write(`  ${cells.join('  ')}\n`);
};

// One job's history as append_events takes it, built in SQL so a million events need no round trips.
const jobHistory = sql`jsonb_build_array(
  jsonb_build_object('event_id', gen_random_uuid(), 'type', 'JobSubmitted', 'schema_version', 1,
    'metadata', '{"actor": "bench"}'::jsonb,
    'data', '{"spec": {"image": "omni-busybox:latest", "command": ["echo", "hi"], "env": {}, "timeoutMs": 1000,
              "limits": {"memoryBytes": 67108864, "cpus": 1, "pids": 16}}}'::jsonb),
  jsonb_build_object('event_id', gen_random_uuid(), 'type', 'JobStarted', 'schema_version', 1,
    'metadata', '{}'::jsonb, 'data', '{"attempt": 1, "workerId": "bench-worker"}'::jsonb),
  jsonb_build_object('event_id', gen_random_uuid(), 'schema_version', 1, 'metadata', '{}'::jsonb,
    'type', case when i % 5 = 0 then 'JobFailed' else 'JobSucceeded' end,
    'data', jsonb_build_object('attempt', 1, 'exitCode', case when i % 5 = 0 then 1 else 0 end, 'stdout', 'hi',
      'stderr', '', 'outputTruncated', false, 'durationMs', 12) ||
      case when i % 5 = 0 then '{"reason": "exit-code"}'::jsonb else '{}'::jsonb end))`;

/** Writes job logs of each replay size into `db` and replays the jobs projection over each twice. */
async function replays(db: Kysely<Database>): Promise<void> {
  let stored = 0;
  let previous: { size: number; seconds: number } | undefined;
  for (const size of replaySizes) {
    const generateStarted = performance.now();
    while (stored < size) {
      const jobs = Math.min(10_000, Math.ceil((size - stored) / 3));
      await sql`select count(*) from generate_series(1, ${jobs}) i,
        lateral append_events('job-' || gen_random_uuid(), 0, ${jobHistory})`.execute(db);
      stored += jobs * 3;
    }
    const generated = (performance.now() - generateStarted) / 1000;
    await sql`vacuum analyze events`.execute(db);
    // Each log is replayed twice: the first replay also pays for compiling the read, fold and write
    // paths and for Postgres's first pass over freshly written pages (an operator's log is rarely
    // minutes old); both are printed, the second is the one compared across sizes.
    const first = await replayProjection(db, jobsProjection, { batchSize: 10_000 });
    report(
      `replay jobs, ${format(first.events)} events, first pass`,
      `${format(first.eventsPerSecond)} events/s`,
      `${first.seconds.toFixed(1)} s`,
      '',
    );
    const result = await replayProjection(db, jobsProjection, { batchSize: 10_000 });
    const growth = previous
      ? `time ×${(result.seconds / previous.seconds).toFixed(1)} for size ×${(result.events / previous.size).toFixed(1)}`
      : `(log written at ${format(stored / generated)} events/s in SQL)`;
    report(
      `replay jobs, ${format(result.events)} events, again`,
      `${format(result.eventsPerSecond)} events/s`,
      `${result.seconds.toFixed(1)} s`,
      growth,
    );
    previous = { size: result.events, seconds: result.seconds };
  }
}

async function main(): Promise<void> {
  await onServer(`create database ${name}`);
  const url = `${serverUrl}/${name}`;
  const db = createDatabase({ connectionString: url, maxConnections: 40, applicationName: 'omni-bench' });
  const raw = new pg.Pool({ connectionString: url, max: 40 });
  try {
    await migrateToLatest(db);
    await raw.query(
      'create table raw_inserts (id bigint generated always as identity primary key, stream_id text, data jsonb)',
    );
    // The store as the product runs it (concurrent appends share a commit), and one that commits each
    // append on its own, to show what group commit adds and what a lone append costs.
    const store = createEventStore(db);
    const ungroupedStore = createEventStore(db, { groupCommit: false });
    process.stderr.write(`omni event store bench (${quick ? 'quick' : 'full'}; ${seconds} s per rate)\n`);

    for (const writers of concurrencies) {
      const appender = (target: typeof store) => {
        const versions = Array.from({ length: writers }, () => 0);
        const streams = Array.from({ length: writers }, () => `bench-${randomUUID()}`);
        return async (writer: number) => {
          const result = await target.append(streams[writer] ?? '', versions[writer] ?? 0, [
            { type: 'BenchEvent', schemaVersion: 1, data: { n: 1 } },
          ]);
          versions[writer] = result.nextExpectedVersion;
          return 1;
        };
      };
      const rates = await compare(writers, {
        baseline: async (writer) => {
          await raw.query('insert into raw_inserts (stream_id, data) values ($1, $2)', [
            `w-${writer}`,
            '{"n": 1}',
          ]);
          return 1;
        },
        grouped: appender(store),
        ungrouped: appender(ungroupedStore),
      });
      report(
        `single appends, ${writers} writer(s)`,
        `${format(rates.grouped)}/s`,
        `raw pg ${format(rates.baseline)}/s`,
        `ratio ${(rates.grouped / rates.baseline).toFixed(2)}`,
        `(a commit per append: ${format(rates.ungrouped)}/s, ratio ${(rates.ungrouped / rates.baseline).toFixed(2)})`,
      );
    }

    const batch = Array.from({ length: 100 }, (_, n) => ({
      type: 'BenchEvent',
      schemaVersion: 1,
      data: { n },
    }));
    const batched = await rate(8, async () => {
      await store.append(`batch-${randomUUID()}`, 0, batch);
      return batch.length;
    });
    report('batch appends (100 events), 8 writers', `${format(batched)} events/s`, '', '');

    // The replays get a database of their own: "100k events" is then a log of 100k events, not 100k
    // job events behind the ~200k the appends above wrote (a replay steps over those too; the
    // README gives that cost separately).
    await onServer(`create database ${name}_replay`);
    const replayDb = createDatabase({
      connectionString: `${serverUrl}/${name}_replay`,
      applicationName: 'omni-bench-replay',
    });
    try {
      await migrateToLatest(replayDb);
      await replays(replayDb);
    } finally {
      await replayDb.destroy();
      await onServer(`drop database if exists ${name}_replay with (force)`);
    }

    const widths =
      rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
    process.stdout.write('\n');
    for (const row of rows)
      process.stdout.write(
        `${row
          .map((cell, i) => cell.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd()}\n`,
      );
  } finally {
    await raw.end();
    await db.destroy();
    await onServer(`drop database if exists ${name} with (force)`);
  }
}

main().then(
  // A benchmark stops by itself: idle pool timers must not hold it open.
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
