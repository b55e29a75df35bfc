// Sandbox benchmark: `node bench/sandbox.bench.ts [--quick]`. Measures, in one run on one machine:
//   1. latency from dequeue to recorded result of a trivial job (the worker's processor: load,
//      prepare, JobStarted, sandbox run, live output, JobSucceeded) next to `docker run --rm` of the
//      same image with the same hardening flags, through the CLI;
//   2. sustained sandboxed jobs/s next to a raw dockerode create/start/wait/remove loop with the
//      same container options, at the same concurrency.
// It creates its own database and drops it; every container it starts is removed.
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import type { Job } from 'bullmq';
import Docker from 'dockerode';
import pg from 'pg';
import { pino } from 'pino';
import { createDatabase } from '../events/database.ts';
import { createEventStore } from '../events/event-store.ts';
import { migrateToLatest } from '../events/migrator.ts';
import { defaultJobTenant } from '../jobs/job.evolve.ts';
import { executeJobCommand } from '../jobs/job-stream.ts';
import type { SandboxPolicy } from '../schemas/config.schema.ts';
import type { ResolvedJobSpec } from '../schemas/job-spec.schema.ts';
import type { RunJobMessage } from '../workers/job-queue.ts';
import { createRunJobProcessor } from '../workers/run-job.processor.ts';
import { buildContainerOptions } from '../workers/sandbox/container-options.ts';
import { createDockerSandbox } from '../workers/sandbox/docker-sandbox.ts';

const execFileAsync = promisify(execFile);
const quick = process.argv.includes('--quick');
const serverUrl = process.env.BENCH_DATABASE_SERVER_URL ?? 'postgres://postgres@127.0.0.1:5432';
const image = process.env.BENCH_IMAGE ?? 'omni-busybox:latest';
const latencyRuns = quick ? 10 : 30;
const throughputJobs = quick ? 24 : 80;
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 4);
const benchLabel = { 'omni.bench-run': randomUUID() };
const mib = 1024 * 1024;

const policy: SandboxPolicy = {
  allowedImages: [image],
  user: '65534:65534',
  defaults: { memoryBytes: 64 * mib, cpus: 1, pids: 64, timeoutMs: 10_000 },
  maxima: { memoryBytes: 64 * mib, cpus: 1, pids: 64, timeoutMs: 10_000 },
  outputLimitBytes: mib,
  tmpfsBytes: 16 * mib,
};
const spec: ResolvedJobSpec = {
  image,
  command: ['echo', 'hi'],
  env: {},
  timeoutMs: 10_000,
  limits: policy.defaults,
};

/** `docker run --rm` with the flags buildContainerOptions sets, so both sides run the same container. */
const dockerRunArgs = [
  'run',
  '--rm',
  '--network',
  'none',
  '--read-only',
  '--tmpfs',
  `/tmp:rw,nosuid,nodev,size=${policy.tmpfsBytes},mode=1777`,
  '--ipc',
  'none',
  '--cap-drop',
  'ALL',
  '--security-opt',
  'no-new-privileges',
  '--user',
  policy.user,
  '--memory',
  String(spec.limits.memoryBytes),
  '--memory-swap',
  String(spec.limits.memoryBytes),
  '--cpus',
  String(spec.limits.cpus),
  '--pids-limit',
  String(spec.limits.pids),
  '--ulimit',
  'nofile=1024:1024',
  '--ulimit',
  `fsize=${policy.tmpfsBytes}`,
  '--ulimit',
  'core=0',
  '--init',
  '--log-driver',
  'none',
  '--hostname',
  'sandbox',
  '-w',
  '/tmp',
  '--label',
  `omni.bench-run=${benchLabel['omni.bench-run']}`,
  image,
  ...spec.command,
];

async function admin(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: `${serverUrl}/postgres` });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

const percentile = (values: readonly number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};
const ms = (n: number) => `${n.toFixed(0)} ms`;
const ratio = (ours: number, base: number) => `${((ours / base - 1) * 100).toFixed(1)}%`;

async function timed(run: () => Promise<unknown>): Promise<number> {
  const began = performance.now();
  await run();
  return performance.now() - began;
}

async function main(): Promise<void> {
  const name = `omni_bench_${randomBytes(4).toString('hex')}`;
  await admin(`create database ${name}`);
  const db = createDatabase({ connectionString: `${serverUrl}/${name}`, maxConnections: concurrency * 3 });
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  try {
    await migrateToLatest(db);
    const store = createEventStore(db);
    const sandbox = createDockerSandbox({ docker, policy, extraLabels: benchLabel });
    const processor = createRunJobProcessor({
      store,
      sandbox,
      workerId: 'bench-worker',
      logger: pino({ level: 'silent' }),
    });
    const submit = async () => {
      const jobId = randomUUID();
      await executeJobCommand(store, jobId, { type: 'SubmitJob', spec }, { actor: 'bench' });
      return { data: { jobId, attempt: 1, tenant: defaultJobTenant } } as Job<RunJobMessage>;
    };
    const process_ = async (message: Job<RunJobMessage>) => {
      const outcome = await processor(message);
      if (outcome !== 'ran') throw new Error(`bench job was ${String(outcome)}`);
    };

    process.stderr.write('warming up\n');
    // Warm both paths (image cache, engine, connection pools) before measuring.
    for (let i = 0; i < 3; i += 1) {
      await process_(await submit());
      await execFileAsync('docker', dockerRunArgs);
    }

    process.stderr.write('latency\n');
    // 1. Latency, interleaved so drift on a shared machine hits both sides alike.
    const ours: number[] = [];
    const cli: number[] = [];
    for (let i = 0; i < latencyRuns; i += 1) {
      const message = await submit();
      ours.push(await timed(() => process_(message)));
      cli.push(await timed(() => execFileAsync('docker', dockerRunArgs)));
    }

    // 2. Throughput at the same concurrency: pipeline jobs vs raw create/start/wait/remove.
    const messages = await Promise.all(Array.from({ length: throughputJobs }, submit));
    const options = buildContainerOptions(
      { spec, labels: { jobId: 'bench', attempt: 1, workerId: 'bench-raw' } },
      policy,
      { imageId: (await docker.getImage(image).inspect()).Id, extraLabels: benchLabel },
    );
    const rawOnce = async () => {
      const container = await docker.createContainer(options);
      await container.start();
      await container.wait();
      await container.remove({ force: true });
    };
    const rate = async (count: number, once: (index: number) => Promise<void>) => {
      let next = 0;
      const began = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          for (let index = next++; index < count; index = next++) await once(index);
        }),
      );
      return count / ((performance.now() - began) / 1000);
    };
    const rawRate = await rate(throughputJobs, rawOnce);
    const ourRate = await rate(throughputJobs, (index) => process_(messages[index] as Job<RunJobMessage>));
    const rawRate2 = await rate(throughputJobs, rawOnce);
    const rawMean = (rawRate + rawRate2) / 2;

    const rows = [
      ['figure', 'pipeline', 'baseline', 'pipeline adds'],
      [
        'latency p50 (dequeue → recorded result vs docker run --rm)',
        ms(percentile(ours, 50)),
        ms(percentile(cli, 50)),
        ratio(percentile(ours, 50), percentile(cli, 50)),
      ],
      [
        'latency p95',
        ms(percentile(ours, 95)),
        ms(percentile(cli, 95)),
        ratio(percentile(ours, 95), percentile(cli, 95)),
      ],
      [
        `jobs/s at concurrency ${concurrency} (vs raw dockerode loop)`,
        ourRate.toFixed(2),
        rawMean.toFixed(2),
        ratio(rawMean, ourRate),
      ],
    ];
    console.log(
      `\nsandbox bench: ${latencyRuns} latency runs, ${throughputJobs} jobs per throughput run, image ${image}\n`,
    );
    for (const row of rows)
      console.log(
        `  ${row[0]?.padEnd(62)} ${row[1]?.padStart(9)} ${row[2]?.padStart(9)} ${row[3]?.padStart(14)}`,
      );
    console.log('\n  (for jobs/s, "pipeline adds" is the extra time per job: raw rate / pipeline rate - 1)');
  } finally {
    const leftovers = await docker.listContainers({
      all: true,
      filters: { label: [`omni.bench-run=${benchLabel['omni.bench-run']}`] },
    });
    for (const container of leftovers)
      await docker
        .getContainer(container.Id)
        .remove({ force: true })
        .catch(() => undefined);
    await db.destroy();
    await admin(`drop database if exists ${name} with (force)`);
  }
}

await main();
// A benchmark stops by itself: idle keep-alive sockets and pool timers must not hold it open.
process.exit(0);
