import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventStore } from '../../events/event-store.ts';
import { loadJob } from '../../jobs/job-stream.ts';
import { createApp } from '../../services/api/app.ts';
import { mintToken } from '../../services/dev-token.ts';
import { createInstrumentedEventStore } from '../../services/telemetry/instrument-event-store.ts';
import { sandboxLabels } from '../../workers/sandbox/container-options.ts';
import { createDockerSandbox } from '../../workers/sandbox/docker-sandbox.ts';
import { withoutWaitingPool } from '../support/pool-containers.ts';
import { type PrivateDockerd, startPrivateDockerd } from '../support/private-dockerd.ts';
import { type RoleProcess, startRoleProcess } from '../support/role-process.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { testImage } from '../support/test-image.ts';
import { testPolicy } from '../support/test-policy.ts';
import { testSecret, testTokenVerifier } from '../support/test-stack.ts';

// The worker and dispatcher run as real processes against a Docker engine this file owns (its
// own dockerd, socket and data root), which is SIGKILLed and SIGSTOPped while jobs run, on the
// cold path and with the warm pool (whose containers wait, started ahead, when the engine goes).
// The machine's shared engine at /var/run/docker.sock is never touched.

let root: string;
let dockerd: PrivateDockerd;
let database: TestDatabase;
let store: EventStore;
let redis: Redis;
const processes = new Set<RoleProcess>();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const graceMs = 2_000;

beforeAll(async () => {
  root = await mkdtemp('/tmp/omni-engine-faults-');
  dockerd = await startPrivateDockerd(root);
  database = await createTestDatabase('engine_faults');
  store = createInstrumentedEventStore(database.db);
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
}, 180_000);

afterAll(async () => {
  for (const role of processes) await role.kill('SIGKILL');
  await dockerd?.destroy();
  redis?.disconnect();
  await database?.destroy();
  if (root) await rm(root, { recursive: true, force: true });
}, 60_000);

/** The warm pool size each deployment's worker runs with (one profile: the test image, no outputs). */
const warmPoolSize = 2;

/**
 * A deployment of its own (BullMQ prefix) on the shared Redis, with a dispatcher and a worker
 * keeping `poolSize` containers started ahead (0: every attempt runs cold).
 */
function deployment(poolSize: number) {
  const prefix = `test-${randomUUID()}`;
  const env = {
    DATABASE_URL: database.url,
    REDIS_URL: 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: prefix,
    DOCKER_HOST: dockerd.host,
    SANDBOX_IMAGES: testImage,
    SANDBOX_DEFAULT_MEMORY_MB: '32',
    SANDBOX_DEFAULT_PIDS: '16',
    SANDBOX_WARM_POOL_SIZE: String(poolSize),
    WORKER_CONCURRENCY: '4',
    TENANT_MAX_RUNNING: '20',
    WORKER_LEASE_MS: '3000',
    WORKER_SHUTDOWN_GRACE_MS: String(graceMs),
    RECONCILE_INTERVAL_MS: '1000',
    LOG_LEVEL: 'info',
  };
  const start = (role: 'worker' | 'dispatcher') => {
    const started = startRoleProcess(role, env);
    processes.add(started);
    return started;
  };
  const app = createApp({
    store,
    db: database.db,
    policy: testPolicy,
    verifyToken: testTokenVerifier,
    logger: pino({ level: 'silent' }),
  });
  const submit = async (spec: Record<string, unknown>): Promise<string> => {
    const token = await mintToken({ secret: testSecret, subject: 'engine-faults', tenant: 'engine-faults' });
    const response = await app.request('/v1/jobs', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ image: testImage, ...spec }),
    });
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  };
  return { prefix, start, submit };
}

/** What the log says about each job: how it ended and what its attempts cost. */
async function audit(ids: readonly string[]) {
  const statuses: Record<string, number> = {};
  const failures: string[] = [];
  const costlyRetries: string[] = [];
  const abandoned: string[] = [];
  const succeededAt: number[] = [];
  let interrupted = 0;
  for (const id of ids) {
    const { state, events } = await loadJob(store, id);
    statuses[state.status] = (statuses[state.status] ?? 0) + 1;
    for (const event of events) {
      const data = event.data as { attempt?: number; reason?: string; message?: string };
      if (event.type === 'JobFailed')
        failures.push(`${id}#${data.attempt}: ${data.reason} ${data.message ?? ''}`);
      if (event.type === 'JobAttemptAbandoned') abandoned.push(`${id}#${data.attempt}`);
      if (event.type === 'JobRetryScheduled') {
        if (data.reason === 'infrastructure') interrupted += 1;
        else costlyRetries.push(`${id}#${data.attempt}: ${data.reason}`);
      }
      if (event.type === 'JobSucceeded') succeededAt.push(data.attempt ?? 0);
    }
  }
  return { statuses, failures, costlyRetries, abandoned, succeededAt, interrupted };
}

async function untilAllEnded(ids: readonly string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const states = await Promise.all(ids.map(async (id) => (await loadJob(store, id)).state.status));
    if (states.every((status) => status !== 'queued' && status !== 'running')) return;
    if (Date.now() > deadline)
      throw new Error(
        `jobs still unfinished after ${timeoutMs} ms: ${JSON.stringify(states)}\n${[...processes]
          .flatMap((role) => role.lines.slice(-12))
          .join('\n')}`,
      );
    await sleep(250);
  }
}

/** Containers left but those a live worker's pool keeps waiting (`poolCapacity` at most). */
async function untilNoContainers(timeoutMs: number, poolCapacity: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = withoutWaitingPool(await dockerd.containers(), poolCapacity).length;
    if (left === 0 || Date.now() > deadline) return left;
    await sleep(250);
  }
}

/**
 * Jobs whose run printed already, from the log: they run inside their containers (a warm pool's
 * waiting containers run too, so running containers say nothing, and a recorded start comes before
 * the container is taken or created).
 */
async function printedSoFar(ids: readonly string[]): Promise<number> {
  const printed = await Promise.all(
    ids.map(async (id) => (await loadJob(store, id)).events.some((event) => event.type === 'JobOutput')),
  );
  return printed.filter(Boolean).length;
}

/** Which path each job's successful attempt ran on (`warm` or `cold`). */
async function pathsOf(ids: readonly string[]): Promise<Record<string, number>> {
  const paths: Record<string, number> = {};
  for (const id of ids) {
    const { events } = await loadJob(store, id);
    for (const event of events) {
      if (event.type !== 'JobSucceeded') continue;
      const path = (event.data as { sandboxPath?: string }).sandboxPath ?? 'none';
      paths[path] = (paths[path] ?? 0) + 1;
    }
  }
  return paths;
}

/** Every line a role wrote must be a JSON log record; returns the parsed records. */
function records(role: RoleProcess): Array<{ level: number; msg: string } & Record<string, unknown>> {
  return role.lines.map((line) => {
    try {
      return JSON.parse(line) as { level: number; msg: string };
    } catch {
      throw new Error(`not a JSON log line: ${line}`);
    }
  });
}

describe('Docker engine faults', () => {
  it.each([
    { path: 'cold', poolSize: 0 },
    { path: 'warm', poolSize: warmPoolSize },
  ])(
    'an engine SIGKILLed and restarted while jobs flow costs no attempt, fails no job and leaves no container ($path path)',
    async ({ poolSize }) => {
      const { start, submit } = deployment(poolSize);
      const worker = start('worker');
      const dispatcher = start('dispatcher');
      await Promise.all([worker.waitFor(/taking work/, 60_000), dispatcher.waitFor(/active one/, 60_000)]);
      const began = Date.now();
      const ids: string[] = [];
      let outage: Promise<{ before: number; after: number }> | undefined;
      // 50 jobs at 5/s; the engine dies 3 s in and comes back 5 s later, while they still arrive.
      for (let i = 0; i < 50; i += 1) {
        ids.push(
          await submit({
            command: ['sh', '-c', 'sleep 1.5; echo done'],
            retry: { maxAttempts: 3, backoff: { initialMs: 100 }, on: ['sandbox-error', 'abandoned'] },
          }),
        );
        if (i === 15) outage = dockerd.kill9AndRestart(5_000);
        await sleep(200);
      }
      const { before, after } = (await outage) ?? { before: 0, after: 0 };
      expect(after).not.toBe(before);
      await untilAllEnded(ids, 90_000);
      const left = await untilNoContainers(20_000, poolSize);
      const result = await audit(ids);
      const paths = await pathsOf(ids);
      const seconds = ((Date.now() - began) / 1000).toFixed(1);
      const logged = records(worker);
      const closed = logged.filter((record) => /Docker engine unreachable at/.test(record.msg));
      const reopened = logged.filter((record) => /Docker engine at .* answers again/.test(record.msg));
      console.log(
        `engine SIGKILL: ${ids.length} jobs, statuses ${JSON.stringify(result.statuses)}, ` +
          `${result.interrupted} attempts interrupted at no cost, ${result.failures.length} failed attempts, ` +
          `${result.costlyRetries.length} costly retries, ${closed.length} outage(s) logged, ` +
          `${left} containers left; by path ${JSON.stringify(paths)}; ${seconds} s`,
      );
      // The pool was in play: most of these jobs ran in containers started ahead.
      if (poolSize > 0) expect(paths.warm ?? 0).toBeGreaterThan(0);
      else expect(paths.warm ?? 0).toBe(0);

      expect(result.failures).toEqual([]);
      expect(result.costlyRetries).toEqual([]);
      expect(result.abandoned).toEqual([]);
      // Jobs were running when the engine died: their runs ended and were queued again for free.
      expect(result.interrupted).toBeGreaterThanOrEqual(1);
      expect(result.statuses).toEqual({ succeeded: ids.length });
      // Every job succeeded on its first attempt: the outage spent none.
      expect(result.succeededAt.every((attempt) => attempt === 1)).toBe(true);
      expect(left).toBe(0);
      // The worker never exited, and told the operator where the engine is and what to do, once
      // per outage, then that it answered again.
      expect(worker.child.exitCode).toBeNull();
      expect(dispatcher.child.exitCode).toBeNull();
      expect(closed.length).toBeGreaterThanOrEqual(1);
      for (const record of closed) {
        expect(record.msg).toContain(dockerd.host);
        expect(record.msg).toMatch(/not taking work until it answers: check that dockerd is running/);
      }
      expect(reopened.length).toBe(closed.length);
      // Every line mentioning the engine names it.
      for (const record of logged.filter((entry) => /Docker engine/.test(entry.msg)))
        expect(record.msg).toContain(dockerd.host);
      await worker.kill('SIGTERM');
      await dispatcher.kill('SIGTERM');
    },
    150_000,
  );

  it('an engine SIGSTOPped mid-run ends the attempt at no cost within a bound, and SIGTERM still exits within the grace (warm path)', async () => {
    const { start, submit } = deployment(warmPoolSize);
    let worker = start('worker');
    const dispatcher = start('dispatcher');
    await Promise.all([worker.waitFor(/taking work/, 60_000), dispatcher.waitFor(/active one/, 60_000)]);
    const noRetries = { maxAttempts: 1 };
    // Jobs that would finish in 2 s (timeout 2.5 s); the engine stops answering while they run.
    const ids = [
      await submit({ command: ['sh', '-c', 'echo started; sleep 2'], timeoutMs: 2_500, retry: noRetries }),
      await submit({ command: ['sh', '-c', 'echo started; sleep 2'], timeoutMs: 2_500, retry: noRetries }),
    ];
    for (let i = 0; i < 200 && (await printedSoFar(ids)) < 2; i += 1) await sleep(50);
    expect(await printedSoFar(ids)).toBe(2);
    const stoppedAt = Date.now();
    const hang = dockerd.stopFor(10_000);
    // Each attempt ends as an infrastructure fault while the engine is still stopped.
    let endedWithin: number | undefined;
    for (;;) {
      if ((await audit(ids)).interrupted >= 2) {
        endedWithin = Date.now() - stoppedAt;
        break;
      }
      if (Date.now() - stoppedAt > 9_500) break;
      await sleep(100);
    }
    expect(await hang).toEqual({ stopped: true, pingTimedOut: true });
    expect(worker.child.exitCode).toBeNull();
    console.log(`engine SIGSTOP: attempts ended ${endedWithin ?? 'not'} ms after the engine stopped`);
    // The job's 2.5 s timeout plus 3 s for a kill the engine does not answer, with room for load.
    expect(endedWithin).toBeDefined();
    expect(endedWithin).toBeLessThan(9_500);
    // Once the engine answers again the same attempts run again and succeed.
    await untilAllEnded(ids, 40_000);
    const afterHang = await audit(ids);
    expect(afterHang.failures).toEqual([]);
    expect(afterHang.statuses).toEqual({ succeeded: 2 });
    expect(afterHang.succeededAt).toEqual([1, 1]);
    expect((await pathsOf(ids)).warm ?? 0).toBeGreaterThan(0);

    // A SIGTERM while the engine hangs: the grace runs out, the run's kill gets no answer, and the
    // worker still exits in bounded time; the attempt is recorded interrupted, not abandoned.
    const long = await submit({
      command: ['sh', '-c', 'echo started; sleep 8'],
      timeoutMs: 20_000,
      retry: noRetries,
    });
    for (let i = 0; i < 200 && (await printedSoFar([long])) < 1; i += 1) await sleep(50);
    expect(await printedSoFar([long])).toBe(1);
    const secondHang = dockerd.stopFor(10_000);
    await sleep(500);
    const termAt = Date.now();
    await worker.kill('SIGTERM');
    const exitedWithin = Date.now() - termAt;
    console.log(`engine SIGSTOP: worker exited ${exitedWithin} ms after SIGTERM (grace ${graceMs} ms)`);
    expect(worker.child.exitCode).toBe(0);
    // The grace, then at most 3 s for the unanswered kill, and a little for recording it.
    expect(exitedWithin).toBeLessThan(graceMs + 3_000 + 2_000);
    await secondHang;
    const { events } = await loadJob(store, long);
    expect(events.map((event) => event.type)).not.toContain('JobAttemptAbandoned');
    expect(
      events.some(
        (event) =>
          event.type === 'JobRetryScheduled' &&
          (event.data as { reason?: string }).reason === 'infrastructure',
      ),
    ).toBe(true);
    records(worker);
    // A new worker runs it (attempt 1 still) and reaps what the old one left behind.
    worker = start('worker');
    await worker.waitFor(/taking work/, 60_000);
    await untilAllEnded([long], 40_000);
    const last = await audit([long]);
    expect(last.statuses).toEqual({ succeeded: 1 });
    expect(last.succeededAt).toEqual([1]);
    expect(await untilNoContainers(20_000, warmPoolSize)).toBe(0);
    for (const record of records(worker)) expect(typeof record.msg).toBe('string');
    await worker.kill('SIGTERM');
    await dispatcher.kill('SIGTERM');
  }, 150_000);

  it('a warm container that died while it waited, its end not yet reported, is no outcome of the job: the attempt runs cold', async () => {
    // In this process against the private engine, so the engine can be held while the container dies.
    const workerId = `engine-faults-${randomUUID()}`;
    const sandbox = createDockerSandbox({
      docker: dockerd.docker,
      policy: testPolicy,
      warmPool: { size: 1, workerId },
    });
    try {
      const job = {
        image: testImage,
        command: ['sh', '-c', 'echo handed in'],
        env: {},
        timeoutMs: 10_000,
        limits: testPolicy.defaults,
      };
      const { imageId } = await sandbox.prepare(job);
      expect(await sandbox.warmUp(job, imageId)).toBe(true);
      const [waiting] = (await dockerd.containers()).filter(
        (container) => container.Labels[sandboxLabels.workerId] === workerId && container.State === 'running',
      );
      if (!waiting) throw new Error('no warm container waits');
      const { Pid: pid } = (await dockerd.docker.getContainer(waiting.Id).inspect()).State;
      // The engine is stopped, so it can neither end the container's attach stream nor report its
      // exit: the pool still holds it as waiting when the job comes, and hands it out.
      const hang = dockerd.stopFor(3_000);
      await sleep(300);
      process.kill(pid, 'SIGKILL');
      const result = await sandbox.run({
        spec: job,
        imageId,
        labels: { jobId: randomUUID(), attempt: 1, workerId },
      });
      expect(await hang).toMatchObject({ stopped: true });
      // Once the engine answers it reports the exit (137), with no receipt of the job from the
      // wrapper: the job never reached it, and ran cold instead.
      expect(result).toMatchObject({ path: 'cold', reason: 'exited', exitCode: 0, stdout: 'handed in\n' });
    } finally {
      await sandbox.close();
    }
    // This sandbox's own containers (other tests' workers may still keep theirs waiting).
    const own = (await dockerd.containers()).filter(
      (container) => container.Labels[sandboxLabels.workerId] === workerId,
    );
    expect(own).toEqual([]);
  }, 60_000);

  it('an engine that hangs while a warm container is given the job’s limits is an engine fault, not a refusal of docker update', async () => {
    const workerId = `engine-faults-${randomUUID()}`;
    const sandbox = createDockerSandbox({
      docker: dockerd.docker,
      policy: testPolicy,
      warmPool: { size: 2, workerId },
      engineTimeoutMs: 1_000,
    });
    try {
      // Other limits than the policy's: each warm run first sets them with docker update.
      const job = {
        image: testImage,
        command: ['echo', 'own limits'],
        env: {},
        timeoutMs: 10_000,
        limits: { ...testPolicy.defaults, memoryBytes: testPolicy.defaults.memoryBytes * 2 },
      };
      const { imageId } = await sandbox.prepare(job);
      expect(await sandbox.warmUp(job, imageId)).toBe(true);
      for (
        let i = 0;
        i < 50 &&
        (await dockerd.containers()).filter(
          (c) => c.Labels[sandboxLabels.workerId] === workerId && c.State === 'running',
        ).length < 2;
        i += 1
      )
        await sleep(100);
      const hang = dockerd.stopFor(5_000);
      await sleep(300);
      const labels = { jobId: randomUUID(), attempt: 1, workerId };
      // Twice (two refusals in a row would make jobs with their own limits skip the pool for good).
      for (let i = 0; i < 2; i += 1)
        await expect(sandbox.run({ spec: job, imageId, labels })).rejects.toMatchObject({
          code: 'daemon-unavailable',
        });
      await hang;
      // The engine answers again: the pool refills (once its pause after the failed fills is over)
      // and the same job runs warm, its limits set.
      let ready = false;
      for (let i = 0; i < 100 && !ready; i += 1) {
        ready = await sandbox.warmUp(job, imageId);
        if (!ready) await sleep(200);
      }
      expect(ready).toBe(true);
      expect(await sandbox.run({ spec: job, imageId, labels })).toMatchObject({
        path: 'warm',
        stdout: 'own limits\n',
      });
    } finally {
      await sandbox.close();
    }
  }, 60_000);
});
