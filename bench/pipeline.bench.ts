// node bench/pipeline.bench.ts — jobs/s through the whole path (HTTP submit → JobSubmitted →
// dispatcher → BullMQ → worker → JobStarted/JobSucceeded) with a no-op sandbox, next to raw BullMQ
// add+process of the same count in the same run. Needs the local Postgres and Redis.
import { randomUUID } from 'node:crypto';
import { serve } from '@hono/node-server';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { pino } from 'pino';
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

async function pipeline(): Promise<number> {
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
  const processor = createRunJobProcessor({ store, sandbox: noopSandbox, workerId: 'bench', logger });
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
  // 32 clients submitting in parallel.
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < count) {
        next += 1;
        const response = await fetch(url, { method: 'POST', headers, body });
        if (response.status !== 202) throw new Error(`submit answered ${response.status}`);
        await response.arrayBuffer();
      }
    }),
  );
  for (;;) {
    const { rows } = await sql<{
      n: number;
    }>`select count(*)::int as n from events where type = 'JobSucceeded'`.execute(database.db);
    if ((rows[0]?.n ?? 0) >= count) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const seconds = (performance.now() - started) / 1000;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await worker.close();
  await dispatcher.stop();
  await queue.obliterate({ force: true });
  await queue.close();
  redis.disconnect();
  await database.destroy();
  return count / seconds;
}

const raw = await rawBullmq();
const full = await pipeline();
console.log(`raw BullMQ add+process: ${raw.toFixed(0)} jobs/s (${count} jobs, concurrency ${concurrency})`);
console.log(`pipeline HTTP→events→queue→worker→result (no-op sandbox): ${full.toFixed(0)} jobs/s`);
console.log(`ratio: ${(full / raw).toFixed(2)} (goal ≥ 0.30)`);
// A benchmark stops by itself: idle keep-alive sockets and pool timers must not hold it open.
process.exit(0);
