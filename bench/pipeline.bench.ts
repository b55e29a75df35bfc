// node bench/pipeline.bench.ts — jobs/s through the whole path (HTTP submit → JobSubmitted →
// dispatcher → BullMQ → worker → JobStarted/JobSucceeded) with a no-op sandbox, next to raw BullMQ
// add+process of the same count in the same run. Needs the local Postgres and Redis.
import { randomUUID } from 'node:crypto';
import { Worker as Thread } from 'node:worker_threads';
import { serve } from '@hono/node-server';
import { Queue, Worker } from 'bullmq';
import { Hono } from 'hono';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { pino } from 'pino';
import { createEventStore } from '../events/event-store.ts';
import { createApp } from '../services/api/app.ts';
import { mintToken } from '../services/dev-token.ts';
import { createTestDatabase } from '../test/support/test-database.ts';
import { testPolicy } from '../test/support/test-policy.ts';
import { testSecret, testTokenVerifier } from '../test/support/test-stack.ts';
import { createJobQueue } from '../workers/job-queue.ts';
import type { HttpClientsTask } from './http-clients.worker.ts';
import type { PipelineWorkersRequest, PipelineWorkersTask } from './pipeline-workers.worker.ts';
import {
  type CpuSnapshot,
  cpuBetween,
  nodeCpuMs,
  postgresCpu,
  redisCpuMs,
  threadCpuMs,
} from './process-cpu.ts';

const count = Number(process.env.BENCH_JOBS ?? 500);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 8);
/** Each side runs this many times, alternating (ABBA), so a busy spell on a shared machine falls on both. */
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const redisUrl = 'redis://127.0.0.1:6379';
const logger = pino({ level: 'silent' });

/** Seconds raw BullMQ takes to add and process `count` jobs. */
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
  return seconds;
}

/**
 * Seconds and this process's CPU for the same clients to POST `count` bodies to a bare Hono app that
 * parses the JSON and answers 202: what HTTP alone costs the pipeline, before any product code.
 */
async function bareHono(): Promise<{ readonly seconds: number; readonly serverCpuMs: number }> {
  const app = new Hono().post('/v1/jobs', async (c) => {
    await c.req.json();
    return c.json({ id: randomUUID(), status: 'queued' }, 202);
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const started = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(started));
  });
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/v1/jobs`;
  const cpu = threadCpuMs();
  const started = performance.now();
  await submitFromClients({
    url,
    headers: { 'content-type': 'application/json' },
    body: '{"image":"x","command":["true"]}',
    count,
    clients: 32,
  });
  const seconds = (performance.now() - started) / 1000;
  const serverCpuMs = threadCpuMs() - cpu;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return { seconds, serverCpuMs };
}

/** Runs the HTTP clients thread for one task and waits for it to finish. */
/** Runs the HTTP clients thread for one task; returns the CPU milliseconds the clients spent. */
async function submitFromClients(task: HttpClientsTask): Promise<number> {
  const clients = new Thread(new URL('./http-clients.worker.ts', import.meta.url), { workerData: task });
  const { cpuMs } = await new Promise<{ cpuMs: number }>((resolve, reject) => {
    clients.once('message', resolve);
    clients.once('error', reject);
  });
  await clients.terminate();
  return cpuMs;
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

interface Pipeline {
  /**
   * `count` more jobs from the first submit until the last of them succeeded: the seconds, and the
   * CPU milliseconds of each role's thread (the clients are the load generator, not the product).
   */
  round(): Promise<{
    readonly seconds: number;
    readonly apiCpuMs: number;
    readonly workersCpuMs: number;
    readonly clientsCpuMs: number;
  }>;
  /** The Postgres processes' CPU so far (see process-cpu.ts). */
  postgresCpu(): Promise<CpuSnapshot>;
  /** Where the jobs of every round spent their time. */
  stages(): Promise<Stages>;
  stop(): Promise<void>;
}

async function startPipeline(): Promise<Pipeline> {
  const database = await createTestDatabase('bench_pipeline');
  const store = createEventStore(database.db);
  const prefix = `bench-${randomUUID().slice(0, 8)}`;
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = createJobQueue({ connection: redis, prefix });
  // The dispatcher and the worker in a thread of their own, as they run in processes of their own.
  const workersTask: PipelineWorkersTask = { databaseUrl: database.url, redisUrl, prefix, concurrency };
  const workers = new Thread(new URL('./pipeline-workers.worker.ts', import.meta.url), {
    workerData: workersTask,
  });
  await new Promise((resolve, reject) => {
    workers.once('message', resolve);
    workers.once('error', reject);
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

  const workersCpuMs = async () => {
    const reply = new Promise<{ cpuMs: number }>((resolve) => workers.once('message', resolve));
    workers.postMessage('cpu' satisfies PipelineWorkersRequest);
    return (await reply).cpuMs;
  };
  let submitted = 0;
  return {
    async round() {
      const started = performance.now();
      const apiCpu = threadCpuMs();
      const workersCpu = await workersCpuMs();
      // 32 clients submitting in parallel, in a thread of their own.
      const clientsCpuMs = await submitFromClients({ url, headers, body, count, clients: 32 });
      submitted += count;
      for (;;) {
        const { rows } = await sql<{
          n: number;
        }>`select count(*)::int as n from events where type = 'JobSucceeded'`.execute(database.db);
        if ((rows[0]?.n ?? 0) >= submitted) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return {
        seconds: (performance.now() - started) / 1000,
        apiCpuMs: threadCpuMs() - apiCpu,
        workersCpuMs: (await workersCpuMs()) - workersCpu,
        clientsCpuMs,
      };
    },
    postgresCpu: () => postgresCpu(database.db),
    async stages() {
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
      return { dispatchMs: median(dispatch), waitMs: median(wait), slotMs: mean(work) };
    },
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      workers.postMessage('stop' satisfies PipelineWorkersRequest);
      await new Promise((resolve) => workers.once('message', resolve));
      await workers.terminate();
      await queue.obliterate({ force: true });
      await queue.close();
      redis.disconnect();
      await database.destroy();
    },
  };
}

// BENCH_SKIP_RAW=1 measures the pipeline alone (for profiling it); the ratio is then meaningless.
const skipRaw = Boolean(process.env.BENCH_SKIP_RAW);
const pipeline = await startPipeline();
const seconds = { raw: 0, pipeline: 0 };
// CPU per side, in milliseconds: each thread of this process, Postgres, Redis.
const cpu = {
  raw: { node: 0, redis: 0 },
  pipeline: { api: 0, workers: 0, clients: 0, postgres: 0, redis: 0 },
};
const redisProbe = new Redis(redisUrl);
for (let round = 0; round < rounds; round += 1) {
  const order = round % 2 === 0 ? (['raw', 'pipeline'] as const) : (['pipeline', 'raw'] as const);
  for (const side of order) {
    const redis = await redisCpuMs(redisProbe);
    if (side === 'raw' && !skipRaw) {
      const node = nodeCpuMs();
      seconds.raw += await rawBullmq();
      cpu.raw.node += nodeCpuMs() - node;
      cpu.raw.redis += (await redisCpuMs(redisProbe)) - redis;
    }
    if (side === 'pipeline') {
      const postgres = await pipeline.postgresCpu();
      const result = await pipeline.round();
      seconds.pipeline += result.seconds;
      cpu.pipeline.api += result.apiCpuMs;
      cpu.pipeline.workers += result.workersCpuMs;
      cpu.pipeline.clients += result.clientsCpuMs;
      cpu.pipeline.redis += (await redisCpuMs(redisProbe)) - redis;
      cpu.pipeline.postgres += cpuBetween(postgres, await pipeline.postgresCpu());
    }
  }
}
redisProbe.disconnect();
const http = skipRaw ? { seconds: Number.NaN, serverCpuMs: Number.NaN } : await bareHono();
const stages = await pipeline.stages();
await pipeline.stop();
const raw = skipRaw ? Number.NaN : (count * rounds) / seconds.raw;
const full = (count * rounds) / seconds.pipeline;
const perJob = (ms: number) => (ms / (count * rounds)).toFixed(2);
const product = cpu.pipeline.api + cpu.pipeline.workers + cpu.pipeline.postgres + cpu.pipeline.redis;
console.log(
  `raw BullMQ add+process: ${raw.toFixed(0)} jobs/s (${rounds} rounds of ${count} jobs, concurrency ${concurrency}); ` +
    `CPU per job ${perJob(cpu.raw.node)} ms Node, ${perJob(cpu.raw.redis)} ms Redis`,
);
console.log(`pipeline HTTP→events→queue→worker→result (no-op sandbox): ${full.toFixed(0)} jobs/s`);
console.log(
  `  per job: dispatch ${stages.dispatchMs.toFixed(0)} ms and waiting for a worker slot ${stages.waitMs.toFixed(0)} ms (medians), ` +
    `in a slot ${stages.slotMs.toFixed(0)} ms (mean; ${concurrency} slots)`,
);
console.log(
  `  CPU per job: ${perJob(product)} ms = API ${perJob(cpu.pipeline.api)} + dispatcher and worker ${perJob(cpu.pipeline.workers)} ` +
    `+ Postgres ${perJob(cpu.pipeline.postgres)} + Redis ${perJob(cpu.pipeline.redis)} ` +
    `(the load generator's HTTP clients another ${perJob(cpu.pipeline.clients)})`,
);
console.log(
  `bare Hono (the same clients, JSON parsed, 202): ${(count / http.seconds).toFixed(0)} requests/s, ` +
    `server CPU ${(http.serverCpuMs / count).toFixed(2)} ms per request`,
);
console.log(`ratio: ${(full / raw).toFixed(2)} (goal ≥ 0.30)`);
// A benchmark stops by itself: idle keep-alive sockets and pool timers must not hold it open.
process.exit(0);
