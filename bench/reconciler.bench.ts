// Reconciler benchmark: `node bench/reconciler.bench.ts [--quick]`. What an idle deployment pays to
// keep the queue true to the log while a backlog waits: one reconcile pass over N waiting jobs, each
// with its live message in Redis, timed and its CPU measured, with Redis asked in pipelines (as the
// dispatcher runs it) and attempt by attempt through the queue (the baseline, in the same run).
// Creates its own database and BullMQ prefix and removes both.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import pino from 'pino';
import { createDatabase } from '../events/database.ts';
import { createEventStore } from '../events/event-store.ts';
import { migrateToLatest } from '../events/migrator.ts';
import { replayProjection } from '../events/projections/replay.ts';
import { jobDecider } from '../jobs/job.decider.ts';
import { jobStreamId, toNewJobEvents } from '../jobs/job-stream.ts';
import { jobsProjection } from '../jobs/jobs.projection.ts';
import { resolveJobSpec } from '../jobs/resolve-job-spec.ts';
import { createJobQueue } from '../workers/job-queue.ts';
import { attemptMessage } from '../workers/lifecycle/attempt-message.ts';
import { type ChangedScope, type ReconcilerDeps, reconcileOnce } from '../workers/lifecycle/reconciler.ts';
import { createWorkerLeases } from '../workers/lifecycle/worker-leases.ts';
import { benchServerUrl, onServer } from './bench-database.ts';

const quick = process.argv.includes('--quick');
const backlog = quick ? 10_000 : 100_000;
const intervalSeconds = 5; // RECONCILE_INTERVAL_MS's default
const serverUrl = benchServerUrl;
const name = `omni_bench_reconciler_${randomBytes(4).toString('hex')}`;
const prefix = `bench-${randomBytes(4).toString('hex')}`;

await onServer(`create database ${name}`);
const db = createDatabase({ connectionString: `${serverUrl}/${name}`, maxConnections: 8 });
const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
const queue = createJobQueue({ connection: redis, prefix });
try {
  await migrateToLatest(db);
  const store = createEventStore(db);
  const policy = {
    allowedImages: ['omni-busybox:latest'],
    user: '65534:65534',
    defaults: { memoryBytes: 64 << 20, cpus: 1, pids: 64, timeoutMs: 10_000 },
    maxima: { memoryBytes: 256 << 20, cpus: 2, pids: 128, timeoutMs: 30_000 },
    outputLimitBytes: 65_536,
    tmpfsBytes: 16 << 20,
  };
  const spec = resolveJobSpec({ image: 'omni-busybox:latest', command: ['true'] }, policy);
  const started = performance.now();
  for (let done = 0; done < backlog; done += 1000) {
    const ids = Array.from({ length: Math.min(1000, backlog - done) }, () => crypto.randomUUID());
    const now = new Date();
    await store.appendEach(
      ids.map((id) => ({
        streamId: jobStreamId(id),
        expectedVersion: 0,
        events: toNewJobEvents(
          jobDecider.decide({ type: 'SubmitJob', spec, now }, jobDecider.initialState()),
          {
            actor: 'bench',
            tenant: 'default',
          },
        ),
      })),
    );
    await queue.addBulk(
      ids.map((jobId) => {
        const message = attemptMessage({ jobId, attempt: 1, tenant: 'default' }, now.getTime());
        return { name: message.name, data: message.data, opts: message.opts };
      }),
    );
  }
  process.stdout.write(
    `backlog: ${backlog.toLocaleString('en')} waiting jobs with live messages, made in ${((performance.now() - started) / 1000).toFixed(1)} s\n\n`,
  );

  const deps = (withRedis: boolean): ReconcilerDeps => ({
    db,
    store,
    queue,
    ...(withRedis ? { redis } : {}),
    leases: createWorkerLeases(db),
    logger: pino({ level: 'silent' }),
  });
  // The jobs read model as the API keeps it: passes between full ones ask it for running jobs.
  await replayProjection(db, jobsProjection, { batchSize: 10_000 });
  const measure = async (withRedis: boolean, among?: ChangedScope) => {
    const cpuBefore = process.cpuUsage();
    const wallBefore = performance.now();
    const report = await reconcileOnce(deps(withRedis), among);
    const wallMs = performance.now() - wallBefore;
    const cpu = process.cpuUsage(cpuBefore);
    if (report.requeued !== 0) throw new Error(`a pass over live messages requeued ${report.requeued}`);
    return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000, open: report.open };
  };
  // A first pass warms the pools and the caches; the second is the one printed. The baseline is
  // slow enough that its one pass is warm past its first few thousand messages.
  await measure(true);
  const pipelined = await measure(true);
  const oneByOne = await measure(false);
  // A pass between full ones when nothing changed since the last: what idling costs most of the time.
  const { rows } = await sql<{
    position: string;
  }>`select max(global_position) as position from events`.execute(db);
  const changedOnly = await measure(true, { afterPosition: Number(rows[0]?.position ?? 0) });
  const row = (label: string, m: { wallMs: number; cpuMs: number }) =>
    `| ${label} | ${m.wallMs.toFixed(0)} ms | ${m.cpuMs.toFixed(0)} ms | ${(m.cpuMs / intervalSeconds).toFixed(1)} ms/s |\n`;
  process.stdout.write(
    `| one pass over ${pipelined.open.toLocaleString('en')} waiting jobs | wall | Node CPU | idle cost (a pass per ${intervalSeconds} s) |\n|---|---|---|---|\n`,
  );
  process.stdout.write(row('Redis asked a thousand at a time (as deployed)', pipelined));
  process.stdout.write(row('baseline: each message asked through the queue', oneByOne));
  process.stdout.write(row('a pass between full ones (one a minute), nothing changed', changedOnly));
  process.stdout.write(
    `\nbatched / baseline: wall ${(pipelined.wallMs / oneByOne.wallMs).toFixed(2)}, CPU ${(pipelined.cpuMs / oneByOne.cpuMs).toFixed(2)}\n`,
  );
} finally {
  await queue.obliterate({ force: true }).catch(() => undefined);
  await queue.close();
  redis.disconnect();
  await db.destroy();
  await onServer(`drop database if exists ${name} with (force)`);
}
