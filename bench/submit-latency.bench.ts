// Submit latency under load: `node bench/submit-latency.bench.ts [--quick]`. POST /v1/jobs offered
// at 100, 300 and 600 requests/s (open loop, from a worker thread) to the product's API as
// `omni api` composes it (JWT, zod, the append, rate limits in Redis), next to a bare Hono app that
// parses the same JSON and answers 202, in the same run; prints p50/p99 of each and the ratio, goal
// p99 ≤ 5× bare Hono at 600/s, and per request the serving thread's CPU, Postgres's and commits.
// A database and BullMQ prefix of its own, removed at the end; no workers run, so the jobs only wait.
import { randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import Docker from 'dockerode';
import { Hono } from 'hono';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import pino from 'pino';
import { createDatabase } from '../events/database.ts';
import { migrateToLatest } from '../events/migrator.ts';
import { serveApp } from '../services/api/serve.ts';
import { loadConfig } from '../services/config.ts';
import { mintToken } from '../services/dev-token.ts';
import { composeApi } from '../services/roles.ts';
import { benchServerUrl, onServer } from './bench-database.ts';
import type { OpenLoopResult, OpenLoopTask } from './open-loop-clients.worker.ts';
import { cpuBetween, postgresCpu, threadCpuMs } from './process-cpu.ts';

const quick = process.argv.includes('--quick');
const seconds = quick ? 3 : 8;
const rates = [100, 300, 600];
const name = `omni_bench_submit_${randomBytes(4).toString('hex')}`;
const secret = randomBytes(32).toString('hex');
const image = 'omni-busybox:latest';
const body = JSON.stringify({ image, command: ['echo', 'hi'] });

function offer(task: OpenLoopTask): Promise<OpenLoopResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./open-loop-clients.worker.ts', import.meta.url), {
      workerData: task,
    });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;

/** Commits the bench's database has counted so far (the statistics lag a commit by up to 0.5 s). */
async function commitsSoFar(): Promise<number> {
  const { rows } = await sql<{ commits: number }>`
    select xact_commit::int as commits from pg_stat_database where datname = current_database()
  `.execute(db);
  return rows[0]?.commits ?? 0;
}

/**
 * One rate offered for `seconds`; besides the latencies, what each answered request cost: CPU of
 * the serving thread (the load generator runs in a thread of its own), of Postgres, and commits.
 * CPU varies less between runs than a p99 on a shared machine, so it tells a change apart sooner.
 */
async function measure(url: string, headers: Record<string, string>, rate: number) {
  const threadBefore = threadCpuMs();
  const postgresBefore = await postgresCpu(db);
  const commitsBefore = await commitsSoFar();
  const result = await offer({ url, headers, body, ratePerSecond: rate, seconds });
  const threadMs = threadCpuMs() - threadBefore;
  // The statistics collector reports a backend's commits within 0.5 s (pgstat flush interval).
  await new Promise((resolve) => setTimeout(resolve, 600));
  const commits = (await commitsSoFar()) - commitsBefore;
  const postgresMs = cpuBetween(postgresBefore, await postgresCpu(db));
  const sorted = [...result.latenciesMs].sort((a, b) => a - b);
  const answered = Math.max(1, sorted.length);
  return {
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    statuses: result.statuses,
    threadMsPerRequest: threadMs / answered,
    postgresMsPerRequest: postgresMs / answered,
    commitsPerRequest: commits / answered,
  };
}

await onServer(`create database ${name}`);
const databaseUrl = `${benchServerUrl}/${name}`;
const db = createDatabase({ connectionString: databaseUrl, maxConnections: 20 });
const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
const prefix = `bench-${randomBytes(4).toString('hex')}`;
try {
  await migrateToLatest(db);
  const unlimited = String(10_000_000);
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    QUEUE_PREFIX: prefix,
    JWT_SECRET: secret,
    SANDBOX_IMAGES: image,
    RATE_LIMIT_PER_SUBJECT: unlimited,
    RATE_LIMIT_PER_TENANT: unlimited,
    RATE_LIMIT_PER_ADDRESS_UNAUTHENTICATED: unlimited,
    LOG_LEVEL: 'warn',
  });
  const api = await composeApi({
    config,
    db,
    docker: new Docker({ socketPath: '/var/run/docker.sock' }),
    logger: pino({ level: 'warn' }),
    jwtSecret: secret,
    redis,
  });
  const product = await serveApp(api.app, { host: '127.0.0.1', port: 0 });
  const bare = await serveApp(
    new Hono().post('/v1/jobs', async (c) =>
      c.json({ id: 'x', status: 'queued', body: await c.req.json() }, 202),
    ),
    { host: '127.0.0.1', port: 0 },
  );
  const headers = {
    authorization: `Bearer ${await mintToken({ secret, subject: 'bench' })}`,
    'content-type': 'application/json',
  };
  // Warm both: JIT, pools, the token cache.
  await measure(`${product.url}/v1/jobs`, headers, 100);
  await measure(`${bare.url}/v1/jobs`, headers, 100);
  process.stdout.write(
    `POST /v1/jobs, open loop for ${seconds} s per rate, latency from when each request was due:\n\n` +
      '| offered | product p50 / p99 | bare Hono p50 / p99 | p99 ratio | serving thread CPU per request, product / bare | Postgres CPU per request | commits per request | answers (product) |\n|---|---|---|---|---|---|---|---|\n',
  );
  for (const rate of rates) {
    const ours = await measure(`${product.url}/v1/jobs`, headers, rate);
    const baseline = await measure(`${bare.url}/v1/jobs`, headers, rate);
    const ratio = ours.p99 / baseline.p99;
    process.stdout.write(
      `| ${rate}/s | ${ours.p50.toFixed(1)} / ${ours.p99.toFixed(1)} ms | ${baseline.p50.toFixed(1)} / ${baseline.p99.toFixed(1)} ms | ${ratio.toFixed(1)}×${rate === 600 ? ` (goal ≤ 5×: ${ratio <= 5 ? 'met' : 'not met'})` : ''} | ${ours.threadMsPerRequest.toFixed(2)} / ${baseline.threadMsPerRequest.toFixed(2)} ms | ${ours.postgresMsPerRequest.toFixed(2)} ms | ${ours.commitsPerRequest.toFixed(2)} | ${JSON.stringify(ours.statuses)} |\n`,
    );
  }
  await bare.close();
  await product.close();
  await api.stop();
} finally {
  const queueKeys = await redis.keys(`${prefix}:*`);
  if (queueKeys.length > 0) await redis.del(...queueKeys);
  redis.disconnect();
  await db.destroy();
  await onServer(`drop database if exists ${name} with (force)`);
}
// A benchmark stops by itself: idle keep-alive sockets and pool timers must not hold it open.
process.exit(0);
