import { randomUUID } from 'node:crypto';
import net from 'node:net';
import Docker from 'dockerode';
import { Redis } from 'ioredis';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppendListener, nextAppend } from '../../events/append-listener.ts';
import { createDatabase } from '../../events/database.ts';
import { createEventStore, type EventStore } from '../../events/event-store.ts';
import { migrateToLatest } from '../../events/migrator.ts';
import type { Database } from '../../events/tables.ts';
import { defaultJobTenant } from '../../jobs/job.evolve.ts';
import { executeJobCommand, loadJob } from '../../jobs/job-stream.ts';
import { resolveJobSpec } from '../../jobs/resolve-job-spec.ts';
import { createApp } from '../../services/api/app.ts';
import { createTokenVerifier } from '../../services/api/token-verifier.ts';
import { mintToken } from '../../services/dev-token.ts';
import { createLogger } from '../../services/logger.ts';
import { createProcessFaultHandler } from '../../services/process-faults.ts';
import { startExecutorWorker } from '../../workers/executor-worker.ts';
import { createJobQueue } from '../../workers/job-queue.ts';
import { createAttemptControl } from '../../workers/lifecycle/attempt-control.ts';
import { attemptMessage } from '../../workers/lifecycle/attempt-message.ts';
import { createOutageGate } from '../../workers/lifecycle/outage-gate.ts';
import { reconcileOnce, startReconciler } from '../../workers/lifecycle/reconciler.ts';
import { createWorkerLeases } from '../../workers/lifecycle/worker-leases.ts';
import { createRunJobProcessor } from '../../workers/run-job.processor.ts';
import { createDockerSandbox } from '../../workers/sandbox/docker-sandbox.ts';
import { eventually } from '../support/eventually.ts';
import { type RoleProcess, startRoleProcess } from '../support/role-process.ts';
import { createTestDatabase, type TestDatabase, testServerUrl } from '../support/test-database.ts';
import { testImage } from '../support/test-image.ts';
import { testPolicy } from '../support/test-policy.ts';

// Each fault here is made on this file's own database only: its sessions are terminated
// (what a Postgres restart does to a client) and new ones refused while it is "down".

let database: TestDatabase;
let store: EventStore;
const prefix = `test-${randomUUID()}`;
const runLabel = 'omni.test-run';
const runId = randomUUID();
const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
const processes: RoleProcess[] = [];
const extraDatabases: string[] = [];

async function admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: `${testServerUrl}/postgres` });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** Ends every session on the database (optionally only those of one application), as a restart does. */
const terminate = (name: string, applicationName?: string) =>
  admin((client) =>
    client.query(
      `select pg_terminate_backend(pid) from pg_stat_activity
       where datname = $1 and pid <> pg_backend_pid() and ($2::text is null or application_name = $2)`,
      [name, applicationName ?? null],
    ),
  );

/** The database goes down: sessions end and new ones are refused until `bringUp`. */
async function takeDown(name: string) {
  await admin((client) => client.query(`alter database ${name} allow_connections false`));
  await terminate(name);
}
const bringUp = (name: string) =>
  admin((client) => client.query(`alter database ${name} allow_connections true`));

const sessionsOf = (name: string, applicationName: string) =>
  admin(async (client) => {
    const { rows } = await client.query(
      'select count(*)::int as n from pg_stat_activity where datname = $1 and application_name = $2',
      [name, applicationName],
    );
    return (rows[0] as { n: number }).n;
  });

function submit(jobId: string, command: string[], retry?: Record<string, unknown>) {
  const spec = resolveJobSpec({ image: testImage, command, ...(retry ? { retry } : {}) }, testPolicy);
  return executeJobCommand(
    store,
    jobId,
    { type: 'SubmitJob', spec, now: new Date() },
    { actor: 'fault-test' },
  );
}

const streamTypes = async (jobId: string) =>
  (await store.readStream(`job-${jobId}`)).map((event) => event.type).filter((type) => type !== 'JobOutput');

beforeAll(async () => {
  database = await createTestDatabase('postgres_faults');
  store = createEventStore(database.db);
});
afterAll(async () => {
  for (const role of processes) await role.kill();
  await bringUp(database.name).catch(() => undefined);
  const leftovers = await docker.listContainers({ all: true, filters: { label: [`${runLabel}=${runId}`] } });
  for (const container of leftovers) await docker.getContainer(container.Id).remove({ force: true });
  const queue = createJobQueue({ connection: redis, prefix });
  await queue.obliterate({ force: true }).catch(() => undefined);
  await queue.close();
  redis.disconnect();
  for (const name of extraDatabases)
    await admin((client) => client.query(`drop database if exists ${name} with (force)`));
  await database?.destroy();
});

describe('terminated connections', () => {
  it('a pooled connection terminated while checked out crashes nothing, and the next query works', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    const db = createDatabase({ connectionString: database.url, applicationName: 'omni-fault-pool' });
    try {
      // Checked out and between statements (a transaction, a replay's session): no query is there
      // to take the error, so the client itself emits it.
      const afterTerminate = await db.connection().execute(async (connection) => {
        await sql`select 1`.execute(connection);
        await terminate(database.name, 'omni-fault-pool');
        await new Promise((resolve) => setTimeout(resolve, 300));
        return sql`select 1`.execute(connection).then(
          () => 'answered',
          (error: Error) => error.message,
        );
      });
      expect(afterTerminate).not.toBe('answered');
      expect(uncaught).toEqual([]);
      const { rows } = await sql<{ one: number }>`select 1 as one`.execute(db);
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      process.off('uncaughtException', onUncaught);
      await db.destroy();
    }
  });

  it('the append listener reconnects: a feed is woken by NOTIFY again after its session is terminated', async () => {
    const errors: unknown[] = [];
    const appendListener = await createAppendListener(database.url, (error) => errors.push(error), {
      reconnectDelayMs: 100,
    });
    try {
      await terminate(database.name, 'omni-append-listener');
      await eventually(
        () => sessionsOf(database.name, 'omni-append-listener'),
        (n) => n > 0,
        5_000,
      );
      const jobId = randomUUID();
      const started = Date.now();
      const woken = nextAppend(appendListener, {
        maxWaitMs: 10_000,
        accept: (streamId) => streamId.endsWith(jobId),
      });
      await submit(jobId, ['true']);
      await woken;
      // Polling alone would have waited the whole 10 s.
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(errors.length).toBeGreaterThan(0);
    } finally {
      await appendListener.close();
    }
  });
});

describe('the API while its database is unreachable', () => {
  const secret = 'postgres-faults-secret-long-enough-for-hs256';
  it('answers 503 database-unavailable with Retry-After, and 2xx once Postgres is back', async () => {
    const db: Kysely<Database> = createDatabase({
      connectionString: database.url,
      applicationName: 'omni-fault-api',
    });
    const lines: string[] = [];
    const app = createApp({
      store: createEventStore(db),
      db,
      policy: testPolicy,
      verifyToken: createTokenVerifier({ secret: new TextEncoder().encode(secret) }),
      logger: createLogger('info', {}, { write: (line: string) => void lines.push(line) }),
    });
    const token = await mintToken({ secret, subject: 'fault-user' });
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const body = JSON.stringify({ image: testImage, command: ['true'] });
    try {
      // Warm the pool, so the outage hits live connections as well as new ones.
      expect((await app.request('/v1/jobs', { method: 'POST', headers, body })).status).toBe(202);
      await takeDown(database.name);
      for (const request of [
        () => app.request('/v1/jobs', { method: 'POST', headers, body }),
        () => app.request(`/v1/jobs/${randomUUID()}`, { headers }),
      ]) {
        const response = await request();
        expect(response.status).toBe(503);
        expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
        expect(((await response.json()) as { code: string }).code).toBe('database-unavailable');
      }
      // An operator reads what is wrong, once, not a line per refused request.
      const warnings = lines.filter((line) => line.includes('database unreachable'));
      expect(warnings).toHaveLength(1);
      await bringUp(database.name);
      expect((await app.request('/v1/jobs', { method: 'POST', headers, body })).status).toBe(202);
    } finally {
      await bringUp(database.name);
      await db.destroy();
    }
  });
});

describe('an outcome known while Postgres is unreachable', () => {
  it('is kept and recorded once the database is back: the job succeeds with one JobStarted', async () => {
    const db = createDatabase({ connectionString: database.url, applicationName: 'omni-fault-worker' });
    const workerStore = createEventStore(db);
    const leases = createWorkerLeases(db);
    const workerId = `fault-worker-${runId.slice(0, 8)}`;
    await leases.renew(workerId, 60_000);
    const lines: string[] = [];
    const processor = createRunJobProcessor({
      store: workerStore,
      sandbox: createDockerSandbox({ docker, policy: testPolicy, extraLabels: { [runLabel]: runId } }),
      workerId,
      logger: createLogger('info', {}, { write: (line: string) => void lines.push(line) }),
      control: createAttemptControl(),
      holdings: {
        hold: (jobId, attempt) => leases.hold(workerId, [{ jobId, attempt }]),
        drop: (jobId, attempt) => leases.drop(workerId, [{ jobId, attempt }]),
      },
    });
    const worker = startExecutorWorker({
      connection: redis.duplicate(),
      prefix,
      concurrency: 1,
      process: processor,
    });
    const queue = createJobQueue({ connection: redis, prefix });
    try {
      const jobId = randomUUID();
      await submit(jobId, ['sleep', '2']);
      const message = attemptMessage({ jobId, attempt: 1, tenant: defaultJobTenant }, Date.now());
      await queue.add(message.name, message.data, message.opts);
      await eventually(
        async () => (await loadJob(store, jobId)).state.status,
        (status) => status === 'running',
      );
      expect(await leases.holds(workerId, jobId, 1)).toBe(true);
      // Down before the container ends, up well after: the result append meets the outage.
      await takeDown(database.name);
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      await bringUp(database.name);
      const status = await eventually(
        async () => (await loadJob(store, jobId)).state.status,
        (value) => value === 'succeeded',
        15_000,
      );
      expect(status).toBe('succeeded');
      expect(await streamTypes(jobId)).toEqual(['JobSubmitted', 'JobStarted', 'JobSucceeded']);
      expect(lines.some((line) => line.includes("keeping the attempt's outcome"))).toBe(true);
      // Nothing left held once the outcome is in.
      expect(
        await eventually(
          () => leases.holds(workerId, jobId, 1),
          (held) => held === false,
          5_000,
        ),
      ).toBe(false);
    } finally {
      await bringUp(database.name);
      await worker.close();
      await queue.close();
      await leases.release(workerId).catch(() => undefined);
      await db.destroy();
    }
  });
});

describe('Postgres unreachable before an attempt starts', () => {
  it('puts the message back instead of failing it: the attempt runs once Postgres is back, none spent', async () => {
    const db = createDatabase({ connectionString: database.url, applicationName: 'omni-fault-starter' });
    const lines: string[] = [];
    const logger = createLogger('info', {}, { write: (line: string) => void lines.push(line) });
    const gate = createOutageGate({
      probes: { postgres: { address: database.name, check: () => sql`select 1`.execute(db) } },
      logger,
      backoff: { initialMs: 100, maxMs: 500 },
    });
    const processor = createRunJobProcessor({
      store: createEventStore(db),
      sandbox: createDockerSandbox({ docker, policy: testPolicy, extraLabels: { [runLabel]: runId } }),
      workerId: `fault-starter-${runId.slice(0, 8)}`,
      logger,
      control: createAttemptControl(),
      gate,
    });
    const queue = createJobQueue({ connection: redis, prefix: `${prefix}-start` });
    const worker = startExecutorWorker({
      connection: redis.duplicate(),
      prefix: `${prefix}-start`,
      concurrency: 1,
      process: processor,
    });
    const failed: string[] = [];
    worker.on('failed', (job) => failed.push(job?.id ?? ''));
    try {
      const jobId = randomUUID();
      await submit(jobId, ['true']);
      await takeDown(database.name);
      const message = attemptMessage({ jobId, attempt: 1, tenant: defaultJobTenant }, Date.now());
      await queue.add(message.name, message.data, message.opts);
      // Delivered while Postgres is down: it must go back, not fail.
      await eventually(
        async () => lines.some((line) => line.includes('the message goes back to the queue')),
        (seen) => seen,
        10_000,
      );
      await bringUp(database.name);
      const status = await eventually(
        async () => (await loadJob(store, jobId)).state.status,
        (value) => value === 'succeeded',
        20_000,
      );
      expect(status).toBe('succeeded');
      expect(await streamTypes(jobId)).toEqual(['JobSubmitted', 'JobStarted', 'JobSucceeded']);
      expect(failed).toEqual([]);
    } finally {
      await bringUp(database.name);
      gate.stop();
      await worker.close();
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      await db.destroy();
    }
  });
});

/** A job whose first attempt `worker` started (and, being a test, never ends). */
async function start(worker: string) {
  const jobId = randomUUID();
  await submit(jobId, ['true'], { maxAttempts: 2, on: ['abandoned'], backoff: { initialMs: 60_000 } });
  await executeJobCommand(
    store,
    jobId,
    { type: 'StartAttempt', attempt: 1, workerId: worker },
    { actor: `worker:${worker}` },
  );
  return jobId;
}

describe('the reconciler', () => {
  it('abandons a running attempt whose worker is alive but no longer holds it, after a grace', async () => {
    const leases = createWorkerLeases(database.db);
    const queue = createJobQueue({ connection: redis, prefix });
    const workerId = `live-worker-${runId.slice(0, 8)}`;
    const oldWorkerId = `old-worker-${runId.slice(0, 8)}`;
    let clock = Date.now();
    const unheldSince = new Map<string, number>();
    const pass = () =>
      reconcileOnce({
        db: database.db,
        store,
        queue,
        leases,
        logger: createLogger('silent'),
        now: () => new Date(clock),
        unheldGraceMs: 5_000,
        unheldSince,
      });
    try {
      await leases.renew(workerId, 60_000);
      await leases.renew(oldWorkerId, 60_000);
      const held = await start(workerId);
      await leases.hold(workerId, [{ jobId: held, attempt: 1 }]);
      const lost = await start(workerId);
      await leases.hold(workerId, [{ jobId: lost, attempt: 1 }]);
      await leases.drop(workerId, [{ jobId: lost, attempt: 1 }]);
      // A worker of an older version lists nothing: its lease is all there is to judge by.
      const unlisted = await start(oldWorkerId);

      await pass();
      clock += 2_000;
      await pass();
      // Within the grace: the worker may be between recording the outcome and dropping its hold.
      expect((await loadJob(store, lost)).state.status).toBe('running');
      clock += 4_000;
      await pass();
      expect(await streamTypes(lost)).toEqual([
        'JobSubmitted',
        'JobStarted',
        'JobAttemptAbandoned',
        'JobRetryScheduled',
      ]);
      expect((await loadJob(store, held)).state.status).toBe('running');
      expect((await loadJob(store, unlisted)).state.status).toBe('running');
    } finally {
      await queue.close();
    }
  });
});

describe('the reconciler after a database outage', () => {
  // A dispatcher's reconciler either keeps trying through the outage or stands by (its lock session
  // dropped) and becomes active again after it; neither may take the lapsed leases at their word.
  it.each([
    ['keeps trying', false],
    ['stands by during it', true],
  ])(
    'judges leases that lapsed during the outage only once workers had a lease period to renew (%s)',
    async (_, standsBy) => {
      const db = createDatabase({ connectionString: database.url, applicationName: 'omni-fault-reconciler' });
      const leases = createWorkerLeases(db);
      const queue = createJobQueue({ connection: redis, prefix });
      const alive = `alive-worker-${runId.slice(0, 8)}`;
      const dead = `dead-worker-${runId.slice(0, 8)}`;
      await leases.renew(alive, 1_000);
      await leases.renew(dead, 1_000);
      const aliveJob = await start(alive);
      const deadJob = await start(dead);
      await takeDown(database.name);
      let down = true;
      const reconciler = startReconciler({
        ...(standsBy ? { isActive: () => !down } : {}),
        db,
        store: createEventStore(db),
        queue,
        leases,
        logger: createLogger('silent'),
        intervalMs: 200,
        leaseMs: 3_000,
      });
      try {
        // Both leases lapse while nobody can renew them.
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        await bringUp(database.name);
        down = false;
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        expect((await loadJob(store, aliveJob)).state.status).toBe('running');
        // The live worker renews once Postgres is back; the dead one never does.
        await leases.renew(alive, 60_000);
        const abandoned = await eventually(
          async () => (await loadJob(store, deadJob)).state.status,
          (status) => status !== 'running',
          10_000,
        );
        expect(abandoned).toBe('queued');
        expect((await loadJob(store, aliveJob)).state.status).toBe('running');
      } finally {
        await bringUp(database.name);
        await reconciler.stop();
        await queue.close();
        await db.destroy();
      }
    },
  );
});

describe('errors nobody awaited', () => {
  it('a connection fault is logged as JSON and survived; any other error is logged and exits 1', () => {
    const lines: string[] = [];
    const exits: number[] = [];
    const handle = createProcessFaultHandler(
      createLogger('info', {}, { write: (line: string) => void lines.push(line) }),
      (code) => exits.push(code),
    );
    const terminated = Object.assign(new Error('terminating connection due to administrator command'), {
      code: '57P01',
    });
    handle('unhandledRejection', terminated);
    handle('uncaughtException', new Error('Connection terminated unexpectedly'));
    expect(exits).toEqual([]);
    handle('uncaughtException', new TypeError('undefined is not a function'));
    expect(exits).toEqual([1]);
    const logged = lines.map((line) => JSON.parse(line) as { level: number; msg: string });
    expect(logged[0]?.msg).toMatch(/terminating connection.*keeps running/);
    expect(logged.at(-1)?.msg).toMatch(/a bug/);
  });
});

describe('roles around faults', () => {
  const env = (databaseUrl: string, redisUrl = 'redis://127.0.0.1:6379') => ({
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    SANDBOX_IMAGES: testImage,
    RECONCILE_INTERVAL_MS: '500',
    LOG_LEVEL: 'info',
  });
  const parses = (line: string) => {
    try {
      JSON.parse(line);
      return true;
    } catch {
      return false;
    }
  };

  it('a role started before `omni migrate` waits for the schema, then runs', async () => {
    const name = `omni_test_unmigrated_${randomUUID().slice(0, 8).replace(/-/g, '')}`;
    extraDatabases.push(name);
    await admin((client) => client.query(`create database ${name}`));
    const url = `${testServerUrl}/${name}`;
    const projector = startRoleProcess('projector', env(url));
    processes.push(projector);
    await projector.waitFor(/waiting for the schema: run `omni migrate`/, 30_000);
    const db = createDatabase({ connectionString: url });
    try {
      await migrateToLatest(db);
      const jobId = randomUUID();
      const spec = resolveJobSpec({ image: testImage, command: ['true'] }, testPolicy);
      await executeJobCommand(
        createEventStore(db),
        jobId,
        { type: 'SubmitJob', spec, now: new Date() },
        { actor: 'fault-test' },
      );
      // The projector runs: the submitted job reaches the read model.
      const rows = await eventually(
        async () => (await sql`select id from jobs where id = ${jobId}`.execute(db)).rows,
        (found) => found.length === 1,
        45_000,
      );
      expect(rows, projector.lines.join('\n')).toHaveLength(1);
      expect(projector.child.exitCode).toBeNull();
      expect(projector.lines.filter((line) => !parses(line))).toEqual([]);
    } finally {
      await projector.kill();
      await db.destroy();
    }
  });

  it('a role that cannot start says why in one JSON line and exits 1', async () => {
    // The API's port is taken: its start fails after the checks that print for people.
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as net.AddressInfo;
    const api = startRoleProcess('api', {
      ...env(database.url),
      PORT: String(port),
      JWT_SECRET: 'postgres-faults-secret-long-enough-for-hs256',
    });
    processes.push(api);
    try {
      const code =
        api.child.exitCode ??
        (await new Promise<number | null>((resolve) => api.child.once('exit', resolve)));
      expect(code).toBe(1);
      expect(api.lines.filter((line) => !parses(line))).toEqual([]);
      expect(api.lines.some((line) => /the api role could not start/.test(line))).toBe(true);
    } finally {
      taken.close();
    }
  });

  it('the API answers 503 at once while its Redis is unreachable, and 2xx when it is back', async () => {
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      const upstream = net.connect(6379, '127.0.0.1');
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => sockets.delete(socket));
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const { port: redisPort } = proxy.address() as net.AddressInfo;
    const secret = 'postgres-faults-secret-long-enough-for-hs256';
    const apiPort = 20_000 + Math.floor(Math.random() * 20_000);
    const api = startRoleProcess('api', {
      ...env(database.url, `redis://127.0.0.1:${redisPort}`),
      PORT: String(apiPort),
      JWT_SECRET: secret,
    });
    processes.push(api);
    const token = await mintToken({ secret, subject: 'redis-fault-user' });
    const submitJob = async () => {
      const started = Date.now();
      const response = await fetch(`http://127.0.0.1:${apiPort}/v1/jobs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ image: testImage, command: ['true'] }),
      });
      const body = (await response.json()) as { code?: string };
      return {
        status: response.status,
        code: body.code,
        ms: Date.now() - started,
        retryAfter: response.headers.get('retry-after'),
      };
    };
    try {
      await api.waitFor(/API listening/);
      expect((await submitJob()).status).toBe(202);
      await new Promise<void>((resolve) => {
        proxy.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      const during = await submitJob();
      // Queued until Redis returned, it hung for the whole request timeout (15 s) before.
      expect(during).toMatchObject({ status: 503, code: 'rate-limiter-unavailable', retryAfter: '2' });
      expect(during.ms).toBeLessThan(5_000);
      await new Promise<void>((resolve) => proxy.listen(redisPort, '127.0.0.1', resolve));
      const after = await eventually(submitJob, (result) => result.status === 202, 20_000);
      expect(after.status).toBe(202);
      expect(api.child.exitCode).toBeNull();
    } finally {
      await api.kill();
      proxy.close();
      for (const socket of sockets) socket.destroy();
    }
  });

  it('a role whose Redis goes away logs JSON lines only, a few of them, and keeps running', async () => {
    // A proxy in front of the shared Redis: closing it makes Redis unreachable for this role alone.
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      const upstream = net.connect(6379, '127.0.0.1');
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => sockets.delete(socket));
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const { port } = proxy.address() as net.AddressInfo;
    const dispatcher = startRoleProcess('dispatcher', env(database.url, `redis://127.0.0.1:${port}`));
    processes.push(dispatcher);
    try {
      const connected = await eventually(
        async () => sockets.size,
        (n) => n >= 2,
      );
      expect(connected, dispatcher.lines.join('\n')).toBeGreaterThanOrEqual(2);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const before = dispatcher.lines.length;
      await new Promise<void>((resolve) => {
        proxy.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      await new Promise((resolve) => setTimeout(resolve, 8_000));
      const during = dispatcher.lines.slice(before);
      expect(dispatcher.child.exitCode).toBeNull();
      expect(dispatcher.lines.filter((line) => !parses(line))).toEqual([]);
      const redisLines = during.filter(
        (line) => (JSON.parse(line) as { source?: string }).source === 'redis',
      );
      expect(redisLines.length).toBeGreaterThan(0);
      // Rate-limited: ioredis retries many times a second; a line every few seconds says as much.
      expect(redisLines.length).toBeLessThanOrEqual(4);
      expect((JSON.parse(redisLines[0] as string) as { msg: string }).msg).toMatch(/REDIS_URL/);
    } finally {
      await dispatcher.kill();
      proxy.close();
    }
  });
});
