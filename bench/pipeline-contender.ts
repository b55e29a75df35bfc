// One system in the pipeline bench: its database of its own, its consumer thread and its producer,
// measured per round. Each round starts the producer and the consumer and stops both after, so a
// system idle during another's round costs nothing there, and every backend of its database has
// exited (and flushed its statistics) before the commits are read.
import { randomBytes } from 'node:crypto';
import { Worker as Thread } from 'node:worker_threads';
import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { createDatabase } from '../events/database.ts';
import type { Database } from '../events/tables.ts';
import { benchServerUrl, onServer } from './bench-database.ts';
import type { ConsumerKind, ConsumerTask, CpuSplit, Producer, SlotTime } from './pipeline-system.ts';
import type { ConsumerReply, ConsumerRequest } from './pipeline-workers.worker.ts';
import { cpuBetween, nodeCpuMs, postgresCpu, redisCpuMs, threadCpuMs } from './process-cpu.ts';

/** How one system is set up; `install` runs once, `producer` once per round. */
export interface ContenderSpec {
  readonly label: string;
  readonly consumer: ConsumerKind;
  /** Whether it keeps its jobs in Postgres; raw BullMQ does not. */
  readonly postgres: boolean;
  readonly redis: boolean;
  install?(databaseUrl: string, prefix: string): Promise<void>;
  producer(databaseUrl: string, prefix: string): Promise<Producer>;
}

/** Milliseconds of CPU in one round, by where it was spent. */
export type RoundCpu = CpuSplit;

export interface RoundResult {
  readonly seconds: number;
  readonly cpu: RoundCpu;
  /** xact_commit of the system's database during the round (start-up and shut-down included). */
  readonly commits: number;
  readonly slot?: SlotTime;
}

export interface Contender {
  readonly spec: ContenderSpec;
  round(count: number): Promise<RoundResult>;
  destroy(): Promise<void>;
}

async function onServerQuery<Row>(text: string, values: readonly unknown[]): Promise<Row[]> {
  const client = new pg.Client({ connectionString: `${benchServerUrl}/postgres` });
  await client.connect();
  try {
    return (await client.query(text, [...values])).rows as Row[];
  } finally {
    await client.end();
  }
}

/** Commits so far in `database`, once no backend but the probe is connected to it. */
async function settledCommits(database: string): Promise<number> {
  for (let tries = 0; ; tries += 1) {
    const [row] = await onServerQuery<{ backends: number; commits: number }>(
      `select (select count(*)::int from pg_stat_activity where datname = $1 and application_name <> 'bench-probe') as backends,
              (select xact_commit::int from pg_stat_database where datname = $1) as commits`,
      [database],
    );
    if (row && (row.backends === 0 || tries > 500)) return row.commits;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export async function startContender(
  spec: ContenderSpec,
  slots: number,
  redisUrl: string,
  redisProbe: Redis,
): Promise<Contender> {
  const tag = randomBytes(4).toString('hex');
  const prefix = `bench-${spec.consumer}-${tag}`;
  const database = `bench_pipeline_${spec.consumer.replace(/-/g, '_')}_${tag}`;
  const databaseUrl = `${benchServerUrl}/${database}`;
  let probe: Kysely<Database> | undefined;
  if (spec.postgres) {
    await onServer(`create database ${database}`);
    await spec.install?.(databaseUrl, prefix);
    // One connection for the Postgres CPU snapshots; its own few commits are noise against thousands of jobs.
    probe = createDatabase({
      connectionString: databaseUrl,
      maxConnections: 1,
      applicationName: 'bench-probe',
    });
  }
  const task: ConsumerTask = { kind: spec.consumer, databaseUrl, redisUrl, prefix, slots };
  const thread = new Thread(new URL('./pipeline-workers.worker.ts', import.meta.url), { workerData: task });
  // A consumer that fails fails the question in flight, so the bench stops and still drops its databases.
  const failed = new Promise<never>((_, reject) =>
    thread.once('error', (error) =>
      reject(new Error(`${spec.label}: consumer thread failed`, { cause: error })),
    ),
  );
  failed.catch(() => undefined);
  const ask = <T extends ConsumerReply['type']>(request: ConsumerRequest, answer: T) =>
    Promise.race([
      failed,
      new Promise<Extract<ConsumerReply, { type: T }>>((resolve) => {
        const listen = (reply: ConsumerReply) => {
          if (reply.type !== answer) return;
          thread.off('message', listen);
          resolve(reply as Extract<ConsumerReply, { type: T }>);
        };
        thread.on('message', listen);
        thread.postMessage(request);
      }),
    ]);
  const consumerCpuMs = async () => (await ask({ type: 'cpu' }, 'cpu')).cpuMs;
  const postgresSnapshot = () => (probe ? postgresCpu(probe) : Promise.resolve(new Map<number, number>()));
  const redisMs = () => (spec.redis ? redisCpuMs(redisProbe) : Promise.resolve(0));

  return {
    spec,
    async round(count) {
      const commitsBefore = spec.postgres ? await settledCommits(database) : 0;
      await ask({ type: 'start' }, 'started');
      const producer = await spec.producer(databaseUrl, prefix);
      const postgresBefore = await postgresSnapshot();
      const redisBefore = await redisMs();
      const consumerBefore = await consumerCpuMs();
      const mainBefore = threadCpuMs();
      const processBefore = nodeCpuMs();
      const started = performance.now();
      const reached = ask({ type: 'await', total: count }, 'reached');
      const { loadGeneratorCpuMs } = await producer.submit(count);
      let timer: NodeJS.Timeout | undefined;
      const { slot } = await Promise.race([
        reached,
        new Promise<never>((_, reject) => {
          // A job lost would hold the bench forever; ten minutes is far past any round here.
          timer = setTimeout(
            () => reject(new Error(`${spec.label}: ${count} jobs not done in 10 min`)),
            600_000,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      const seconds = (performance.now() - started) / 1000;
      const main = threadCpuMs() - mainBefore;
      const processMs = nodeCpuMs() - processBefore;
      const consumer = (await consumerCpuMs()) - consumerBefore;
      const redis = (await redisMs()) - redisBefore;
      const postgres = cpuBetween(postgresBefore, await postgresSnapshot());
      await producer.stop();
      await ask({ type: 'stop' }, 'stopped');
      const commits = spec.postgres ? (await settledCommits(database)) - commitsBefore : 0;
      return {
        seconds,
        cpu: {
          main,
          consumer,
          // The clients thread has exited by now, but its CPU stays in the process's count.
          otherThreads: Math.max(0, processMs - main - consumer - loadGeneratorCpuMs),
          postgres,
          redis,
          loadGenerator: loadGeneratorCpuMs,
        },
        commits,
        ...(slot === undefined ? {} : { slot }),
      };
    },
    async destroy() {
      await thread.terminate();
      await probe?.destroy();
      if (spec.postgres) await onServer(`drop database if exists ${database} with (force)`);
    },
  };
}
