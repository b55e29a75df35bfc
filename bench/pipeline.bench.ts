// node bench/pipeline.bench.ts — jobs/s, CPU per job and commits per job of omni's whole path (HTTP
// submit → JobSubmitted → dispatcher → BullMQ → worker with a no-op sandbox → JobSucceeded), of the
// same submission without HTTP, and of what a user would pick instead for durable jobs in Postgres
// (pg-boss, Graphile Worker; no-op handlers), with raw BullMQ as the floor, in alternating rounds on
// the same Postgres (each system in a database of its own). Needs the local Postgres and Redis.
//
// BENCH_JOBS (3000) jobs per round, BENCH_ROUNDS (4) measured rounds per system after one warm-up
// round of BENCH_WARMUP (300), BENCH_SLOTS ("8,32") worker slots, BENCH_SYSTEMS (all) to run a few of
// omni-http,omni-direct,pg-boss,graphile-worker,bullmq. `--quick`: 300 jobs a round (100 to warm
// up), 32 slots only, 15 s or so.
import { Redis } from 'ioredis';
import { createDatabase } from '../events/database.ts';
import { migrateToLatest } from '../events/migrator.ts';
import { startBullmqProducer } from './pipeline-bullmq.ts';
import {
  type Contender,
  type ContenderSpec,
  type RoundResult,
  startContender,
} from './pipeline-contender.ts';
import { installGraphileWorker, startGraphileWorkerProducer } from './pipeline-graphile-worker.ts';
import { startOmniDirectProducer, startOmniHttpProducer } from './pipeline-omni-producer.ts';
import { installPgBoss, startPgBossProducer } from './pipeline-pg-boss.ts';
import { printSlotReport, type SystemFigures } from './pipeline-report.ts';
import type { Producer, SlotTime } from './pipeline-system.ts';

const quick = process.argv.includes('--quick');
const jobs = Number(process.env.BENCH_JOBS ?? (quick ? 300 : 3000));
const rounds = Number(process.env.BENCH_ROUNDS ?? (quick ? 2 : 4));
const warmup = Number(process.env.BENCH_WARMUP ?? (quick ? 100 : 300));
const slotCounts = (process.env.BENCH_SLOTS ?? (quick ? '32' : '8,32')).split(',').map(Number);
const redisUrl = 'redis://127.0.0.1:6379';

/** omni's producer with a pool of its own per round, closed with it (as the API process holds one). */
const omniProducer =
  (start: (db: ReturnType<typeof createDatabase>) => Producer | Promise<Producer>) =>
  async (databaseUrl: string): Promise<Producer> => {
    const db = createDatabase({ connectionString: databaseUrl, applicationName: 'bench-api' });
    const producer = await start(db);
    return {
      submit: (count) => producer.submit(count),
      async stop() {
        await producer.stop();
        await db.destroy();
      },
    };
  };

const installOmni = async (databaseUrl: string) => {
  const db = createDatabase({ connectionString: databaseUrl });
  await migrateToLatest(db);
  await db.destroy();
};

const specs: Record<string, ContenderSpec> = {
  'omni-http': {
    label: 'omni, HTTP submit → result',
    consumer: 'omni',
    postgres: true,
    redis: true,
    install: installOmni,
    producer: omniProducer(startOmniHttpProducer),
  },
  'omni-direct': {
    label: 'omni, submit without HTTP',
    consumer: 'omni',
    postgres: true,
    redis: true,
    install: installOmni,
    producer: omniProducer(startOmniDirectProducer),
  },
  'pg-boss': {
    label: 'pg-boss',
    consumer: 'pg-boss',
    postgres: true,
    redis: false,
    install: installPgBoss,
    producer: startPgBossProducer,
  },
  'graphile-worker': {
    label: 'Graphile Worker',
    consumer: 'graphile-worker',
    postgres: true,
    redis: false,
    install: installGraphileWorker,
    producer: startGraphileWorkerProducer,
  },
  bullmq: {
    label: 'raw BullMQ (no durability)',
    consumer: 'bullmq',
    postgres: false,
    redis: true,
    producer: async (_databaseUrl, prefix) => startBullmqProducer(redisUrl, prefix),
  },
};
const chosen = (process.env.BENCH_SYSTEMS ?? Object.keys(specs).join(',')).split(',');
for (const key of chosen) if (!specs[key]) throw new Error(`BENCH_SYSTEMS: no system ${key}`);

/** The rounds' slot times (equal job counts, so a plain mean). */
function meanSlotTime(times: readonly SlotTime[]): SlotTime {
  const mean = (pick: (time: SlotTime) => number) =>
    times.reduce((total, time) => total + pick(time), 0) / times.length;
  const methods = [...new Set(times.flatMap((time) => Object.keys(time.store)))];
  return {
    ms: mean((time) => time.ms),
    runSlotMs: mean((time) => time.runSlotMs),
    store: Object.fromEntries(
      methods.map((method) => [
        method,
        {
          calls: mean((time) => time.store[method]?.calls ?? 0),
          ms: mean((time) => time.store[method]?.ms ?? 0),
        },
      ]),
    ),
  };
}

const sum = (results: readonly RoundResult[], pick: (result: RoundResult) => number) =>
  results.reduce((total, result) => total + pick(result), 0);

/** Each system's figures over its measured rounds at one slot count. */
async function measure(slotCount: number): Promise<SystemFigures[]> {
  const redisProbe = new Redis(redisUrl);
  const contenders: Contender[] = [];
  const results = new Map<Contender, RoundResult[]>();
  try {
    for (const key of chosen) {
      const spec = specs[key];
      if (spec) contenders.push(await startContender(spec, slotCount, redisUrl, redisProbe));
    }
    // Warm-up first (the JIT, pools, first-touch of tables), then the measured rounds in alternating
    // order (ABC…CBA), so a busy spell on a shared machine falls on every system alike.
    for (const contender of contenders) if (warmup > 0) await contender.round(warmup);
    for (let round = 0; round < rounds; round += 1) {
      const order = round % 2 === 0 ? contenders : [...contenders].reverse();
      for (const contender of order) {
        const result = await contender.round(jobs);
        results.set(contender, [...(results.get(contender) ?? []), result]);
        process.stderr.write(
          `  ${slotCount} slots, round ${round + 1}: ${contender.spec.label} ${(jobs / result.seconds).toFixed(0)} jobs/s\n`,
        );
      }
    }
  } finally {
    for (const contender of contenders) await contender.destroy();
    redisProbe.disconnect();
  }
  return contenders.map((contender) => {
    const measured = results.get(contender) ?? [];
    const count = jobs * measured.length;
    const perJob = (pick: (result: RoundResult) => number) => sum(measured, pick) / count;
    const slots = measured.flatMap((result) => (result.slot ? [result.slot] : []));
    return {
      label: contender.spec.label,
      consumer: contender.spec.consumer,
      postgres: contender.spec.postgres,
      slots: slotCount,
      jobsPerSecond: count / sum(measured, (result) => result.seconds),
      cpuMs: {
        main: perJob((result) => result.cpu.main),
        consumer: perJob((result) => result.cpu.consumer),
        otherThreads: perJob((result) => result.cpu.otherThreads),
        postgres: perJob((result) => result.cpu.postgres),
        redis: perJob((result) => result.cpu.redis),
        loadGenerator: perJob((result) => result.cpu.loadGenerator),
      },
      commitsPerJob: perJob((result) => result.commits),
      ...(slots.length === 0 ? {} : { slot: meanSlotTime(slots) }),
    };
  });
}

const sandboxJobsPerSecond = Number(process.env.BENCH_SANDBOX_JOBS_PER_S ?? 4.75);
console.log(
  `pipeline: ${rounds} rounds of ${jobs} jobs per system (after ${warmup} to warm up), 32 producers, ` +
    `no-op jobs, slots ${slotCounts.join(' and ')}`,
);
for (const slots of slotCounts) printSlotReport(await measure(slots), { sandboxJobsPerSecond });
// A benchmark stops by itself: idle keep-alive sockets and pool timers must not hold it open.
process.exit(0);
