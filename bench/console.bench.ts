// Console jobs page benchmark: `node bench/console.bench.ts`. Creates a database of its own, fills
// the jobs read model by bulk SQL insert, and times the two requests the console's jobs page makes
// on every poll (GET /v1/jobs?limit=50 and GET /v1/jobs/counts, sent together as the page sends
// them) through the real app, at 1k jobs and then at 100k; prints p50/p95 of each and the ratio.
import { randomBytes } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { pino } from 'pino';
import { createDatabase } from '../events/database.ts';
import { createEventStore } from '../events/event-store.ts';
import { migrateToLatest } from '../events/migrator.ts';
import type { Database } from '../events/tables.ts';
import { createApp } from '../services/api/app.ts';
import { createTokenVerifier } from '../services/api/token-verifier.ts';
import { loadConfig } from '../services/config.ts';
import { mintToken } from '../services/dev-token.ts';
import { benchServerUrl, onServer } from './bench-database.ts';

const serverUrl = benchServerUrl;
const name = `omni_bench_console_${randomBytes(4).toString('hex')}`;
const secret = randomBytes(32).toString('hex');
const sizes = [1_000, 100_000] as const;
const warmup = 30;
const samples = 300;

/**
 * Adds jobs `from`..`to`-1 to the read model in one statement: one tenant (the page's, so its
 * counts cover every row), a second apart, statuses in the mix a busy system has, a few labels
 * and a command each, as the projection would have written them.
 */
async function fillJobs(db: Kysely<Database>, from: number, to: number): Promise<void> {
  await sql`
    insert into jobs (id, tenant, status, image, attempt, submitted_by, submitted_at, started_at, finished_at,
                      exit_code, failure_reason, duration_ms, version, last_position, labels, command)
    select gen_random_uuid(), 'default', s.status, 'alpine:3.20', 1, 'bench-' || (i % 17),
           now() - i * interval '1 second', now() - i * interval '1 second' + interval '200 milliseconds',
           case when s.status in ('queued', 'running') then null else now() - i * interval '1 second' + interval '2 seconds' end,
           case s.status when 'succeeded' then 0 when 'failed' then 1 end,
           case s.status when 'failed' then 'exit-code' end,
           case when s.status in ('succeeded', 'failed') then 1800 end,
           4, i, jsonb_build_object('team', 'team-' || (i % 7), 'batch', 'b' || (i / 500)),
           'sh -c echo job ' || i
    from generate_series(${from}::int, ${to - 1}::int) as i
    cross join lateral (
      select case when i % 100 < 88 then 'succeeded' when i % 100 < 94 then 'failed' when i % 100 < 96 then 'cancelled'
                  when i % 100 < 97 then 'expired' when i % 100 < 99 then 'queued' else 'running' end as status
    ) s
  `.execute(db);
  // As autovacuum leaves a settled table: statistics, and a visibility map for index-only scans.
  await sql`vacuum (analyze) jobs`.execute(db);
}

const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

interface Figures {
  readonly list: { p50: number; p95: number };
  readonly counts: { p50: number; p95: number };
  readonly page: { p50: number; p95: number };
  /** Queue health, which its page polls every 2 s: not the jobs page, but the same read model. */
  readonly health: { p50: number; p95: number };
}

/** Times the page's two requests, sent together `samples` times one page after another. */
async function measure(
  app: ReturnType<typeof createApp>,
  token: string,
  adminToken: string,
): Promise<Figures> {
  const timed = async (path: string, bearer = token) => {
    const started = performance.now();
    const response = await app.request(path, { headers: { authorization: `Bearer ${bearer}` } });
    if (response.status !== 200)
      throw new Error(`${path} answered ${response.status}: ${await response.text()}`);
    await response.arrayBuffer();
    return performance.now() - started;
  };
  const list: number[] = [];
  const counts: number[] = [];
  const page: number[] = [];
  const health: number[] = [];
  for (let round = 0; round < warmup + samples; round += 1) {
    const started = performance.now();
    const [listMs, countsMs] = await Promise.all([timed('/v1/jobs?limit=50'), timed('/v1/jobs/counts')]);
    const pageMs = performance.now() - started;
    if (round < warmup) continue;
    list.push(listMs);
    counts.push(countsMs);
    page.push(pageMs);
    if (round % 3 === 0) health.push(await timed('/v1/admin/queue-health', adminToken));
  }
  const summary = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return { p50: percentile(sorted, 50), p95: percentile(sorted, 95) };
  };
  return { list: summary(list), counts: summary(counts), page: summary(page), health: summary(health) };
}

await onServer(`create database ${name}`);
const url = `${serverUrl}/${name}`;
const db = createDatabase({ connectionString: url, maxConnections: 10 });
try {
  await migrateToLatest(db);
  const config = loadConfig({ DATABASE_URL: url, JWT_SECRET: secret });
  const app = createApp({
    store: createEventStore(db),
    db,
    policy: config.sandbox,
    verifyToken: createTokenVerifier({ secret: new TextEncoder().encode(secret) }),
    logger: pino({ level: 'silent' }),
  });
  const token = await mintToken({ secret, subject: 'bench-operator' });
  const adminToken = await mintToken({ secret, subject: 'bench-admin', scopes: ['admin'] });
  const results = new Map<number, Figures>();
  let filled = 0;
  for (const size of sizes) {
    const fillStarted = performance.now();
    await fillJobs(db, filled, size);
    filled = size;
    process.stdout.write(
      `filled the read model to ${size.toLocaleString('en-US')} jobs in ${((performance.now() - fillStarted) / 1000).toFixed(1)} s\n`,
    );
    results.set(size, await measure(app, token, adminToken));
  }
  const small = results.get(sizes[0]);
  const large = results.get(sizes[1]);
  if (!small || !large) throw new Error('a size was not measured');
  const ms = (value: number) => `${value.toFixed(1)} ms`;
  process.stdout.write(
    `\nGET /v1/jobs?limit=50 with GET /v1/jobs/counts, as the jobs page sends them (${samples} pages each, after ${warmup} to warm up)\n`,
  );
  process.stdout.write(
    '| request | 1k jobs p50 / p95 | 100k jobs p50 / p95 | ratio p50 / p95 |\n|---|---|---|---|\n',
  );
  const labels = {
    list: 'list',
    counts: 'counts',
    page: 'the page (both, together)',
    health: 'queue health (its own page)',
  } as const;
  for (const part of ['list', 'counts', 'page', 'health'] as const) {
    process.stdout.write(
      `| ${labels[part]} | ${ms(small[part].p50)} / ${ms(small[part].p95)} | ${ms(large[part].p50)} / ${ms(large[part].p95)} | ${(large[part].p50 / small[part].p50).toFixed(2)} / ${(large[part].p95 / small[part].p95).toFixed(2)} |\n`,
    );
  }
} finally {
  await db.destroy();
  await onServer(`drop database if exists ${name} with (force)`);
}
