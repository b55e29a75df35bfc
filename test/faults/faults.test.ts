import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createEventStore, type EventStore } from '../../events/event-store.ts';
import { isTerminal } from '../../jobs/job.state.ts';
import { jobStreamId, loadJob } from '../../jobs/job-stream.ts';
import { createApp } from '../../services/api/app.ts';
import { mintToken } from '../../services/dev-token.ts';
import { sandboxLabels } from '../../workers/sandbox/container-options.ts';
import { withoutWaitingPool } from '../support/pool-containers.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { testImage } from '../support/test-image.ts';
import { testPolicy } from '../support/test-policy.ts';
import { testSecret, testTokenVerifier } from '../support/test-stack.ts';

// Real processes, one Postgres and one Redis: 3 workers and a dispatcher spawned as
// `node services/main.ts worker|dispatcher`, with faults injected while 300 jobs run.

const mainScript = fileURLToPath(new URL('../../services/main.ts', import.meta.url));
// FAULTS_TOTAL shrinks the run when investigating; the done-when criterion is 300.
const total = Number(process.env.FAULTS_TOTAL ?? 300);
// FAULTS_WARM_POOL_SIZE=0 runs the workers on the cold path alone.
const warmPoolSize = Number(process.env.FAULTS_WARM_POOL_SIZE ?? 2);
// Three workers live at a time (the killed one is replaced), one sandbox profile (the test image).
const poolCapacity = 3 * warmPoolSize;
let database: TestDatabase;
let store: EventStore;
let redis: Redis;
const prefix = `faults-${randomUUID().slice(0, 8)}`;
const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const children = new Set<ChildProcess>();
const childOutput: string[] = [];

function env(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    DATABASE_URL: database.url,
    REDIS_URL: 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: prefix,
    SANDBOX_IMAGES: testImage,
    // The warm pool on, as deployed: the counts below leave out the containers it keeps waiting.
    SANDBOX_WARM_POOL_SIZE: String(warmPoolSize),
    WORKER_CONCURRENCY: '4',
    TENANT_MAX_RUNNING: '12',
    WORKER_LEASE_MS: '3000',
    WORKER_SHUTDOWN_GRACE_MS: '5000',
    RECONCILE_INTERVAL_MS: '1000',
    RETRY_DEFAULT_INITIAL_MS: '200',
    SANDBOX_DEFAULT_MEMORY_MB: '32',
    SANDBOX_DEFAULT_PIDS: '16',
    LOG_LEVEL: process.env.FAULTS_LOG_LEVEL ?? 'warn',
  };
}

function start(role: 'worker' | 'dispatcher'): ChildProcess {
  const child = spawn(process.execPath, [mainScript, role], {
    env: env(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (chunk: Buffer) =>
    childOutput.push(`[${role} ${child.pid}] ${chunk.toString().slice(0, 500)}`);
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) =>
    child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()),
  );
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function kill(child: ChildProcess): Promise<void> {
  child.kill('SIGKILL');
  await exited(child);
}

/** Whether the process is gone for good: killed by SIGKILL and no longer in the process table. */
function provablyDead(child: ChildProcess): boolean {
  if (child.signalCode !== 'SIGKILL' || child.pid === undefined) return false;
  try {
    process.kill(child.pid, 0);
    return false;
  } catch {
    return true;
  }
}

/**
 * What FLUSHALL does to this deployment, without wiping the other test files sharing this Redis:
 * every key under this run's prefix (queues, locks, tenant slots) is deleted.
 */
async function flushDeployment(): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.del(...keys);
  } while (cursor !== '0');
  return deleted;
}

/**
 * The worker process running the most attempts right now (so its death leaves attempts running),
 * waiting for one to run any. Worker ids are `<host>-<pid>-<random>`, and every container carries
 * its worker's id. Of a worker's running containers at most `warmPoolSize` wait in its pool, so
 * the rest surely run attempts.
 */
async function busiestWorker(
  candidates: readonly ChildProcess[],
  timeoutMs = 30_000,
): Promise<{ child: ChildProcess; running: number } | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const running = await docker.listContainers({
      filters: { label: [`omni.deployment=${prefix}`], status: ['running'] },
    });
    const byPid = new Map<number, number>();
    for (const container of running) {
      const pid = Number(/-(\d+)-[0-9a-f]{8}$/.exec(container.Labels[sandboxLabels.workerId] ?? '')?.[1]);
      byPid.set(pid, (byPid.get(pid) ?? 0) + 1);
    }
    const busiest = candidates
      .map((child) => ({ child, running: Math.max(0, (byPid.get(child.pid ?? -1) ?? 0) - warmPoolSize) }))
      .sort((a, b) => b.running - a.running)[0];
    if (busiest && busiest.running > 0) return busiest;
    await sleep(100);
  }
  return undefined;
}

const deploymentContainers = () =>
  docker.listContainers({ all: true, filters: { label: [`omni.deployment=${prefix}`] } });
/** Containers left but those the live workers' pools keep waiting. */
const containersLeft = async () => withoutWaitingPool(await deploymentContainers(), poolCapacity).length;

beforeAll(async () => {
  database = await createTestDatabase('faults');
  store = createEventStore(database.db);
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
});
afterAll(async () => {
  for (const child of [...children]) await kill(child);
  // FAULTS_LOG_DIR keeps what the roles printed, for reading a failure afterwards.
  if (process.env.FAULTS_LOG_DIR)
    await writeFile(join(process.env.FAULTS_LOG_DIR, 'faults-roles.log'), childOutput.join(''));
  await flushDeployment().catch(() => undefined);
  for (const container of await docker.listContainers({
    all: true,
    filters: { label: [`omni.deployment=${prefix}`] },
  })) {
    await docker
      .getContainer(container.Id)
      .remove({ force: true })
      .catch(() => undefined);
  }
  redis?.disconnect();
  await database?.destroy();
});

type Kind = 'succeed' | 'slow' | 'exit' | 'timeout' | 'retried';
const kinds: readonly Kind[] = ['succeed', 'slow', 'exit', 'timeout', 'retried', 'succeed'];
const specFor = (kind: Kind) => {
  switch (kind) {
    case 'succeed':
      return { command: ['true'] };
    case 'slow':
      return { command: ['sleep', '1'] };
    case 'exit':
      return { command: ['sh', '-c', 'exit 3'] };
    case 'timeout':
      return { command: ['sleep', '5'], timeoutMs: 300 };
    case 'retried':
      return {
        command: ['sh', '-c', 'exit 4'],
        retry: { maxAttempts: 2, backoff: { initialMs: 100 }, on: ['exit-code', 'abandoned'] },
      };
  }
};

/** Streams whose last event leaves the job terminal (a retry would have been appended with it). */
async function terminalCount(): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from streams s
    join events e on e.stream_id = s.stream_id and e.stream_version = s.version
    where starts_with(s.stream_id, 'job-')
      and e.type in ('JobSucceeded', 'JobFailed', 'JobAttemptAbandoned', 'JobCancelled', 'JobExpired')
  `.execute(database.db);
  return rows[0]?.n ?? 0;
}

it('loses no job and runs no attempt twice through a worker SIGKILL, a dispatcher restart and a Redis wipe', async () => {
  const began = Date.now();
  const workers = [start('worker'), start('worker'), start('worker')];
  let dispatcher = start('dispatcher');
  const app = createApp({
    store,
    db: database.db,
    policy: testPolicy,
    verifyToken: testTokenVerifier,
    logger: pino({ level: 'silent' }),
  });
  const auth = {
    authorization: `Bearer ${await mintToken({ secret: testSecret, subject: 'faults', tenant: 'faults' })}`,
    'content-type': 'application/json',
  };

  const accepted = new Map<string, Kind>();
  const submit = async (i: number) => {
    const kind = kinds[i % kinds.length] ?? 'succeed';
    const response = await app.request('/v1/jobs', {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ image: testImage, ...specFor(kind) }),
    });
    expect(response.status).toBe(202);
    accepted.set(((await response.json()) as { id: string }).id, kind);
  };
  const faults: string[] = [];
  let runningAtKill = 0;
  // A fault test must prove its faults happened: each records what shows it did.
  const proofs = { workerDied: false, dispatcherDied: false, dispatcherRestarted: false, wipedKeys: 0 };
  const batchSize = total / 6;
  for (let batch = 0; batch < 6; batch += 1) {
    await Promise.all(Array.from({ length: batchSize }, (_, j) => submit(batch * batchSize + j)));
    if (batch === 1) {
      // The victim must be running attempts when it dies, or the crash path is not exercised.
      const victim = await busiestWorker(workers);
      if (!victim) throw new Error('no worker ran an attempt within 30 s of the second batch');
      await kill(victim.child);
      proofs.workerDied = provablyDead(victim.child);
      runningAtKill = victim.running;
      faults.push(
        `SIGKILL worker ${victim.child.pid} running at least ${victim.running} attempts at ${Date.now() - began} ms`,
      );
    }
    if (batch === 2) {
      await kill(dispatcher);
      proofs.dispatcherDied = provablyDead(dispatcher);
      faults.push(`SIGKILL dispatcher at ${Date.now() - began} ms`);
    }
    if (batch === 3) {
      dispatcher = start('dispatcher');
      faults.push(`restarted dispatcher at ${Date.now() - began} ms`);
    }
    if (batch === 4) {
      await sleep(1_000);
      const deleted = await flushDeployment();
      proofs.wipedKeys = deleted;
      proofs.dispatcherRestarted = dispatcher.exitCode === null && dispatcher.signalCode === null;
      faults.push(`wiped ${deleted} Redis keys at ${Date.now() - began} ms`);
    }
  }
  // Back to three workers: the killed one's place is taken, as an orchestrator would.
  workers.push(start('worker'));

  // ~2 jobs/s on the 2-core reference machine when it is otherwise idle; far less when other
  // suites share its Docker engine, hence the generous bound.
  const deadline = Date.now() + 480_000;
  let done = 0;
  for (;;) {
    done = await terminalCount();
    if (done >= total || Date.now() > deadline) break;
    await sleep(1_000);
  }
  if (done < total)
    throw new Error(
      `only ${done}/${total} jobs finished\n${childOutput
        .filter((line) => !line.includes('"level":30'))
        .slice(-20)
        .join('')}`,
    );

  // The dead worker's containers are reaped by the survivors once its lease lapsed.
  for (let i = 0; i < 40 && (await containersLeft()) > 0; i += 1) await sleep(500);
  const leftBeforeStop = await containersLeft();
  for (const child of [...children]) child.kill('SIGTERM');
  await Promise.all([...children].map(exited));

  // From the event log alone.
  const { rows: streams } = await sql<{
    stream_id: string;
  }>`select stream_id from streams where starts_with(stream_id, 'job-')`.execute(database.db);
  expect(new Set(streams.map((row) => row.stream_id))).toEqual(
    new Set([...accepted.keys()].map(jobStreamId)),
  );
  const statuses: Record<string, number> = {};
  const wrongOutcome: string[] = [];
  const doubled: string[] = [];
  let attempts = 0;
  let abandoned = 0;
  let retries = 0;
  const paths: Record<string, number> = {};
  for (const [id, kind] of accepted) {
    const { state, events } = await loadJob(store, id);
    expect(isTerminal(state)).toBe(true);
    statuses[state.status] = (statuses[state.status] ?? 0) + 1;
    // A run the engine failed (JobRetryScheduled reason infrastructure) is run again as the same
    // attempt, at no cost: that second start is no double.
    const perAttempt = new Map<number, { started: number; ended: number; interrupted: number }>();
    for (const event of events) {
      const data = event.data as {
        attempt?: number;
        wasRunning?: boolean;
        sandboxPath?: string;
        reason?: string;
      };
      if (event.type === 'JobSucceeded' || event.type === 'JobFailed')
        paths[data.sandboxPath ?? 'none'] = (paths[data.sandboxPath ?? 'none'] ?? 0) + 1;
      const entry = perAttempt.get(data.attempt ?? 0) ?? { started: 0, ended: 0, interrupted: 0 };
      if (event.type === 'JobStarted') entry.started += 1;
      if (event.type === 'JobRetryScheduled' && data.reason === 'infrastructure') entry.interrupted += 1;
      if (
        ['JobSucceeded', 'JobFailed', 'JobAttemptAbandoned', 'JobExpired'].includes(event.type) ||
        (event.type === 'JobCancelled' && data.wasRunning)
      )
        entry.ended += 1;
      if (event.type === 'JobAttemptAbandoned') abandoned += 1;
      if (event.type === 'JobRetryScheduled') retries += 1;
      perAttempt.set(data.attempt ?? 0, entry);
    }
    for (const [attempt, entry] of perAttempt) {
      if (entry.started - entry.interrupted > 1 || entry.ended > 1)
        doubled.push(
          `${id}#${attempt}: ${events
            .filter((event) => event.type !== 'JobOutput')
            .map(
              (event) =>
                `${event.type}${(event.data as { reason?: string }).reason ? `/${(event.data as { reason?: string }).reason}` : ''}`,
            )
            .join(' ')}`,
        );
      attempts += entry.started;
    }
    const reason = state.status === 'failed' ? state.reason : undefined;
    const expected = {
      succeed: state.status === 'succeeded',
      slow: state.status === 'succeeded',
      exit: reason === 'exit-code',
      timeout: reason === 'timeout',
      retried: reason === 'exit-code' && state.status !== 'initial' && state.attempt >= 2,
    }[kind];
    if (!expected) wrongOutcome.push(`${id} (${kind}) ended ${state.status}${reason ? `/${reason}` : ''}`);
  }
  const seconds = ((Date.now() - began) / 1000).toFixed(1);
  console.log(
    `faults: ${accepted.size} accepted, ${streams.length} in the log, statuses ${JSON.stringify(statuses)}, ` +
      `${attempts} attempts started, ${retries} retries scheduled, ${abandoned} attempts abandoned, ` +
      `${doubled.length} attempts started or ended twice, ${wrongOutcome.length} unexpected outcomes, ` +
      `results by path ${JSON.stringify(paths)}, ` +
      `${leftBeforeStop} containers left before stop, ${(await deploymentContainers()).length} after; ${seconds} s\n  ${faults.join('\n  ')}`,
  );
  // The faults happened: the killed processes died, the restarted dispatcher ran through the wipe,
  // and the wipe deleted the deployment's keys (a run once printed `wiped 0 Redis keys` and passed).
  expect(proofs.workerDied).toBe(true);
  expect(proofs.dispatcherDied).toBe(true);
  expect(proofs.dispatcherRestarted).toBe(true);
  expect(proofs.wipedKeys).toBeGreaterThan(0);
  expect(doubled).toEqual([]);
  expect(wrongOutcome).toEqual([]);
  // With the pool on, the faults met the warm path.
  if (warmPoolSize > 0) expect(paths.warm ?? 0).toBeGreaterThan(0);
  // The killed worker was running attempts: they are recorded abandoned (then retried per policy).
  expect(runningAtKill).toBeGreaterThanOrEqual(1);
  expect(abandoned).toBeGreaterThanOrEqual(1);
  expect(leftBeforeStop).toBe(0);
  // Stopped workers drain their pools: nothing at all is left.
  expect(await deploymentContainers()).toEqual([]);
}, 600_000);
