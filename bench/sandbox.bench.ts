// Sandbox benchmark: `node bench/sandbox.bench.ts [--quick]`. Measures, in one run on one machine,
// for runc and (when `docker info` lists it) runsc:
//   1. latency from dequeue to recorded result of a trivial job (the worker's processor: load,
//      prepare, JobStarted, sandbox run, live output, JobSucceeded), on the cold path (a container
//      created and started for the attempt) and the warm path (one started ahead, from the warm
//      pool), next to `docker run --rm` of the same image with the same hardening flags and runtime;
//   2. sustained jobs/s at concurrency 4, cold and warm, next to a raw dockerode
//      create/start/wait/remove loop with the same container options.
// It prints the ratios against the goals (warm p50 <= 0.25x docker run; warm jobs/s >= 4x the raw
// loop). It creates its own database and drops it; every container it starts is removed.
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import type { Job } from 'bullmq';
import Docker from 'dockerode';
import { pino } from 'pino';
import { createDatabase } from '../events/database.ts';
import { createEventStore, type EventStore } from '../events/event-store.ts';
import { migrateToLatest } from '../events/migrator.ts';
import { defaultJobTenant } from '../jobs/job.evolve.ts';
import { executeJobCommand } from '../jobs/job-stream.ts';
import type { SandboxPolicy } from '../schemas/config.schema.ts';
import type { ResolvedJobSpec } from '../schemas/job-spec.schema.ts';
import type { RunJobMessage } from '../workers/job-queue.ts';
import { createRunJobProcessor } from '../workers/run-job.processor.ts';
import { buildContainerOptions } from '../workers/sandbox/container-options.ts';
import { createDockerSandbox, type DockerSandbox } from '../workers/sandbox/docker-sandbox.ts';
import { benchServerUrl, onServer } from './bench-database.ts';

const execFileAsync = promisify(execFile);
const quick = process.argv.includes('--quick');
const serverUrl = benchServerUrl;
const image = process.env.BENCH_IMAGE ?? 'omni-busybox:latest';
// Quick: under 2 minutes for both runtimes even on a loaded 2-core machine.
const latencyRuns = quick ? 8 : 30;
const throughputJobs = quick ? 16 : 80;
const warmUpRuns = quick ? 1 : 3;
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 4);
// Containers kept started ahead: enough for one burst of the concurrency, refilled as they go.
const warmPoolSize = Number(process.env.BENCH_WARM_POOL_SIZE ?? concurrency * 2);
const benchLabel = { 'omni.bench-run': randomUUID() };
const mib = 1024 * 1024;

const basePolicy: SandboxPolicy = {
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
  limits: basePolicy.defaults,
};

/** `docker run --rm` with the flags buildContainerOptions sets, so both sides run the same container. */
function dockerRunArgs(runtime: string): string[] {
  const policy = basePolicy;
  return [
    'run',
    '--rm',
    '--runtime',
    runtime,
    '--network',
    'none',
    '--read-only',
    '--tmpfs',
    `/tmp:rw,exec,nosuid,nodev,size=${policy.tmpfsBytes},mode=1777,uid=65534,gid=65534`,
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
}

const percentile = (values: readonly number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};
const ms = (n: number) => `${n.toFixed(0)} ms`;
const times = (ours: number, base: number) => `${(ours / base).toFixed(2)}x`;

async function timed(run: () => Promise<unknown>): Promise<number> {
  const began = performance.now();
  await run();
  return performance.now() - began;
}

/** Jobs/s running `count` jobs, `concurrency` at a time. */
async function rate(count: number, once: (index: number) => Promise<void>): Promise<number> {
  let next = 0;
  const began = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let index = next++; index < count; index = next++) await once(index);
    }),
  );
  return count / ((performance.now() - began) / 1000);
}

interface RuntimeFigures {
  readonly runtime: string;
  readonly cold: readonly number[];
  readonly warm: readonly number[];
  readonly cli: readonly number[];
  readonly warmPaths: number;
  readonly rawRate: number;
  readonly coldRate: number;
  readonly warmRate: number;
}

/** One worker's processor over a sandbox; `process_` runs one submitted job and checks its path. */
function pipeline(store: EventStore, sandbox: DockerSandbox) {
  const processor = createRunJobProcessor({
    store,
    sandbox,
    workerId: 'bench-worker',
    logger: pino({ level: 'silent' }),
  });
  return async (message: Job<RunJobMessage>) => {
    const outcome = await processor(message);
    if (outcome !== 'ran') throw new Error(`bench job was ${String(outcome)}`);
  };
}

async function measureRuntime(docker: Docker, store: EventStore, runtime: string): Promise<RuntimeFigures> {
  const policy: SandboxPolicy = { ...basePolicy, runtime };
  const submit = async () => {
    const jobId = randomUUID();
    await executeJobCommand(store, jobId, { type: 'SubmitJob', spec }, { actor: 'bench' });
    return { data: { jobId, attempt: 1, tenant: defaultJobTenant } } as Job<RunJobMessage>;
  };
  const coldSandbox = createDockerSandbox({ docker, policy, extraLabels: benchLabel });
  const warmSandbox = createDockerSandbox({
    docker,
    policy,
    extraLabels: benchLabel,
    warmPool: { size: warmPoolSize, workerId: 'bench-worker' },
  });
  const cold = pipeline(store, coldSandbox);
  const warm = pipeline(store, warmSandbox);
  const { imageId } = await warmSandbox.prepare(spec);
  // Counted from the results: a warm run that fell back to cold would flatter nothing unseen.
  let warmPaths = 0;
  const countingSandbox = {
    ...warmSandbox,
    run: async (request: Parameters<DockerSandbox['run']>[0]) => {
      const result = await warmSandbox.run(request);
      if (result.path === 'warm') warmPaths += 1;
      return result;
    },
  };
  const warmCounted = pipeline(store, countingSandbox);
  try {
    process.stderr.write(`${runtime}: warming up\n`);
    // Warm every path (image cache, engine, connection pools) before measuring.
    for (let i = 0; i < warmUpRuns; i += 1) {
      await cold(await submit());
      await warmSandbox.warmUp(spec, imageId);
      await warm(await submit());
      await execFileAsync('docker', dockerRunArgs(runtime));
    }

    process.stderr.write(`${runtime}: latency\n`);
    // 1. Latency, interleaved so drift on a shared machine hits every side alike. Before each warm
    // run its pool has a container ready: what a job meets on a worker that is not saturated.
    const coldTimes: number[] = [];
    const warmTimes: number[] = [];
    const cli: number[] = [];
    for (let i = 0; i < latencyRuns; i += 1) {
      const coldMessage = await submit();
      coldTimes.push(await timed(() => cold(coldMessage)));
      const warmMessage = await submit();
      await warmSandbox.warmUp(spec, imageId);
      warmTimes.push(await timed(() => warmCounted(warmMessage)));
      cli.push(await timed(() => execFileAsync('docker', dockerRunArgs(runtime))));
    }

    process.stderr.write(`${runtime}: throughput\n`);
    // 2. Sustained throughput at the same concurrency: the pool refills while it is drained.
    const options = buildContainerOptions(
      { spec, labels: { jobId: 'bench', attempt: 1, workerId: 'bench-raw' } },
      policy,
      { imageId, extraLabels: benchLabel },
    );
    const rawOnce = async () => {
      const container = await docker.createContainer(options);
      await container.start();
      await container.wait();
      await container.remove({ force: true });
    };
    const coldMessages = await Promise.all(Array.from({ length: throughputJobs }, submit));
    const warmMessages = await Promise.all(Array.from({ length: throughputJobs }, submit));
    const rawRate = await rate(throughputJobs, rawOnce);
    const coldRate = await rate(throughputJobs, (index) => cold(coldMessages[index] as Job<RunJobMessage>));
    await warmSandbox.warmUp(spec, imageId);
    const warmRate = await rate(throughputJobs, (index) => warm(warmMessages[index] as Job<RunJobMessage>));
    const rawRate2 = await rate(throughputJobs, rawOnce);
    return {
      runtime,
      cold: coldTimes,
      warm: warmTimes,
      cli,
      warmPaths,
      rawRate: (rawRate + rawRate2) / 2,
      coldRate,
      warmRate,
    };
  } finally {
    await warmSandbox.close();
  }
}

function report(figures: RuntimeFigures): void {
  const p50 = (values: readonly number[]) => percentile(values, 50);
  const p95 = (values: readonly number[]) => percentile(values, 95);
  const cliP50 = p50(figures.cli);
  const rows = [
    ['figure', 'p50', 'p95', 'vs docker run p50'],
    [
      'cold: dequeue → recorded result',
      ms(p50(figures.cold)),
      ms(p95(figures.cold)),
      times(p50(figures.cold), cliP50),
    ],
    [
      'warm: dequeue → recorded result',
      ms(p50(figures.warm)),
      ms(p95(figures.warm)),
      times(p50(figures.warm), cliP50),
    ],
    ['docker run --rm, same flags', ms(cliP50), ms(p95(figures.cli)), '1.00x'],
  ];
  console.log(
    `\n  runtime ${figures.runtime} (${figures.warmPaths}/${latencyRuns} measured warm runs took the warm path)`,
  );
  for (const row of rows)
    console.log(
      `    ${row[0]?.padEnd(36)} ${row[1]?.padStart(8)} ${row[2]?.padStart(8)} ${row[3]?.padStart(18)}`,
    );
  console.log(
    `    jobs/s at concurrency ${concurrency}: warm ${figures.warmRate.toFixed(2)}, cold ${figures.coldRate.toFixed(2)}, raw dockerode loop ${figures.rawRate.toFixed(2)}`,
  );
  const latencyRatio = p50(figures.warm) / cliP50;
  const throughputRatio = figures.warmRate / figures.rawRate;
  console.log(
    `    goal warm p50 <= 0.25x docker run: ${latencyRatio.toFixed(2)}x (${latencyRatio <= 0.25 ? 'met' : 'not met'})`,
  );
  console.log(
    `    goal warm jobs/s >= 4x raw loop: ${throughputRatio.toFixed(2)}x (${throughputRatio >= 4 ? 'met' : 'not met'}); cold ${(figures.coldRate / figures.rawRate).toFixed(2)}x`,
  );
}

async function main(): Promise<void> {
  const name = `omni_bench_${randomBytes(4).toString('hex')}`;
  await onServer(`create database ${name}`);
  const db = createDatabase({ connectionString: `${serverUrl}/${name}`, maxConnections: concurrency * 3 });
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  try {
    await migrateToLatest(db);
    const store = createEventStore(db);
    const info = (await docker.info()) as { Runtimes?: Record<string, unknown> };
    const runtimes = ['runc', ...(Object.hasOwn(info.Runtimes ?? {}, 'runsc') ? ['runsc'] : [])];
    const figures: RuntimeFigures[] = [];
    for (const runtime of runtimes) figures.push(await measureRuntime(docker, store, runtime));
    console.log(
      `\nsandbox bench: ${latencyRuns} latency runs and ${throughputJobs} jobs per throughput run per runtime, image ${image}, warm pool ${warmPoolSize}`,
    );
    for (const figure of figures) report(figure);
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
    await onServer(`drop database if exists ${name} with (force)`);
  }
}

await main();
// A benchmark stops by itself: idle keep-alive sockets and pool timers must not hold it open.
process.exit(0);
