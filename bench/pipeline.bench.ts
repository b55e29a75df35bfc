// node bench/pipeline.bench.ts — jobs/s through the whole path (HTTP submit → JobSubmitted →
// dispatcher → BullMQ → worker → JobStarted/JobSucceeded) with a no-op sandbox, next to raw BullMQ
// add+process of the same count in the same run. Needs the local Postgres and Redis.
import { randomUUID } from 'node:crypto';
import { Worker as Thread } from 'node:worker_threads';
import { serve } from '@hono/node-server';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { pino } from 'pino';
import { createDatabase } from '../events/database.ts';
import { createEventStore } from '../events/event-store.ts';
import { createApp } from '../services/api/app.ts';
import { mintToken } from '../services/dev-token.ts';
import { createTestDatabase } from '../test/support/test-database.ts';
import { testPolicy } from '../test/support/test-policy.ts';
import { testSecret, testTokenVerifier } from '../test/support/test-stack.ts';
import { startDispatcher } from '../workers/dispatcher.ts';
import { startExecutorWorker } from '../workers/executor-worker.ts';
import { createJobQueue } from '../workers/job-queue.ts';
import { createRunJobProcessor } from '../workers/run-job.processor.ts';
import type { Sandbox } from '../workers/sandbox/sandbox.ts';
import type { HttpClientsTask } from './http-clients.worker.ts';

const count = Number(process.env.BENCH_JOBS ?? 500);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 8);
const redisUrl = 'redis://127.0.0.1:6379';
const logger = pino({ level: 'silent' });

/** A sandbox that returns at once: the bench measures the pipeline, not Docker. */
const noopSandbox: Sandbox = {
  prepare: async () => ({ imageId: 'sha256:noop' }),
  run: async () => {
    const now = new Date();
    return {
      reason: 'exited',
      exitCode: 0,
      stdout: '',
      stderr: '',
      outputTruncated: false,
      startedAt: now,
      finishedAt: now,
      durationMs: 0,
      imageId: 'sha256:noop',
    };
  },
};

async function rawBullmq(): Promise<number> {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const prefix = `bench-raw-${randomUUID().slice(0, 8)}`;
  const queue = new Queue('jobs', { connection, prefix });
  let done = 0;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const worker = new Worker('jobs', async () => 'ok', {
    connection: connection.duplicate(),
    prefix,
    concurrency,
  });
  worker.on('completed', () => {
    done += 1;
    if (done === count) finish();
  });
  const started = performance.now();
  // The same shape of work the pipeline does: one add per job (the API accepts jobs one by one).
  await Promise.all(Array.from({ length: count }, (_, i) => queue.add('run', { i }, { jobId: `job-${i}` })));
  await finished;
  const seconds = (performance.now() - started) / 1000;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  connection.disconnect();
  return count / seconds;
}

/** Where a job's time went, from the log's and the queue's own timestamps. */
interface Stages {
  /** Median JobSubmitted recorded → its message added to the queue: the dispatcher. */
  readonly dispatchMs: number;
  /** Median message added → taken by a worker: waiting for a free worker slot. */
  readonly waitMs: number;
  /** Mean message taken → finished: a slot's time per job (read, two appends, queue moves); slots / this = capacity. */
  readonly slotMs: number;
}

const median = (values: number[]): number =>
  values.sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const mean = (values: readonly number[]): number => values.reduce((sum, v) => sum + v, 0) / values.length;

async function pipeline(): Promise<{ readonly jobsPerSecond: number; readonly stages: Stages }> {
  const database = await createTestDatabase('bench_pipeline');
  const store = createEventStore(database.db);
  const prefix = `bench-${randomUUID().slice(0, 8)}`;
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = createJobQueue({ connection: redis, prefix });
  const dispatcher = await startDispatcher({
    db: database.db,
    connectionString: database.url,
    queue,
    logger,
  });
  // The worker gets its own pool, as a worker process has: 32 submitting clients must not queue
  // its appends behind theirs for the API's connections.
  const workerDb = createDatabase({ connectionString: database.url, applicationName: 'bench-worker' });
  const processor = createRunJobProcessor({
    store: createEventStore(workerDb),
    sandbox: noopSandbox,
    workerId: 'bench',
    logger,
  });
  const worker = startExecutorWorker({
    connection: redis.duplicate(),
    prefix,
    concurrency,
    process: processor,
  });
  const app = createApp({
    store,
    db: database.db,
    policy: testPolicy,
    verifyToken: testTokenVerifier,
    logger,
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const started = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(started));
  });
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/v1/jobs`;
  const headers = {
    authorization: `Bearer ${await mintToken({ secret: testSecret, subject: 'bench' })}`,
    'content-type': 'application/json',
  };
  const body = JSON.stringify({ image: testPolicy.allowedImages[0], command: ['true'] });

  const started = performance.now();
  // 32 clients submitting in parallel, in a thread of their own.
  const task: HttpClientsTask = { url, headers, body, count, clients: 32 };
  const clients = new Thread(new URL('./http-clients.worker.ts', import.meta.url), { workerData: task });
  await new Promise((resolve, reject) => {
    clients.once('message', resolve);
    clients.once('error', reject);
  });
  await clients.terminate();
  for (;;) {
    const { rows } = await sql<{
      n: number;
    }>`select count(*)::int as n from events where type = 'JobSucceeded'`.execute(database.db);
    if ((rows[0]?.n ?? 0) >= count) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const seconds = (performance.now() - started) / 1000;
  const { rows: recorded } = await sql<{ job_id: string; submitted: Date }>`
    select substr(stream_id, 5) as job_id, recorded_at as submitted from events where type = 'JobSubmitted'
  `.execute(database.db);
  const byJob = new Map(recorded.map((row) => [row.job_id, row]));
  const dispatch: number[] = [];
  const wait: number[] = [];
  const work: number[] = [];
  for (const message of await queue.getJobs(['completed'])) {
    const job = byJob.get(message.data.jobId);
    if (!job || message.processedOn === undefined) continue;
    dispatch.push(message.timestamp - job.submitted.getTime());
    wait.push(message.processedOn - message.timestamp);
    if (message.finishedOn !== undefined) work.push(message.finishedOn - message.processedOn);
  }
  const stages = { dispatchMs: median(dispatch), waitMs: median(wait), slotMs: mean(work) };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await worker.close();
  await dispatcher.stop();
  await workerDb.destroy();
  await queue.obliterate({ force: true });
  await queue.close();
  redis.disconnect();
  await database.destroy();
  return { jobsPerSecond: count / seconds, stages };
}

// BENCH_SKIP_RAW=1 measures the pipeline alone (for profiling it); the ratio is then meaningless.
const raw = process.env.BENCH_SKIP_RAW ? Number.NaN : await rawBullmq();
const full = await pipeline();
console.log(`raw BullMQ add+process: ${raw.toFixed(0)} jobs/s (${count} jobs, concurrency ${concurrency})`);
console.log(
  `pipeline HTTP→events→queue→worker→result (no-op sandbox): ${full.jobsPerSecond.toFixed(0)} jobs/s`,
);
console.log(
  `  per job: dispatch ${full.stages.dispatchMs.toFixed(0)} ms and waiting for a worker slot ${full.stages.waitMs.toFixed(0)} ms (medians), ` +
    `in a slot ${full.stages.slotMs.toFixed(0)} ms (mean; ${concurrency} slots)`,
);
console.log(`ratio: ${(full.jobsPerSecond / raw).toFixed(2)} (goal ≥ 0.30)`);
// A benchmark stops by itself: idle keep-alive sockets and pool timers must not hold it open.
process.exit(0);
