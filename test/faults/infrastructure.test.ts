import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mintToken } from '../../services/dev-token.ts';
import { withoutWaitingPool } from '../support/pool-containers.ts';
import { type PrivateDockerd, startPrivateDockerd } from '../support/private-dockerd.ts';
import { freePort } from '../support/private-port.ts';
import { type PrivatePostgres, startPrivatePostgres } from '../support/private-postgres.ts';
import { type PrivateRedis, startPrivateRedis } from '../support/private-redis.ts';
import { testImage } from '../support/test-image.ts';
import { examineBatch, isTerminalStream, readJobEvents, runningAttempts } from './batch-log.ts';
import { type SubmitOutcome, startSteadySubmitter } from './steady-submitter.ts';

// Infrastructure faults against servers this file starts and owns (a Postgres cluster, a
// redis-server and a dockerd, each on its own port or socket), with the roles as real processes:
// one API, one dispatcher, two workers. Each fault gets a batch of its own while jobs flow, and
// the batch is judged from the event log. The machine's shared servers are never touched.

const execFileAsync = promisify(execFile);
const mainScript = fileURLToPath(new URL('../../services/main.ts', import.meta.url));
// FAULTS_RATE slows or speeds the load when investigating; the issue's figure is 5 jobs/s, and
// 4/s is what two workers on a shared 2-core machine keep up with.
const perSecond = Number(process.env.FAULTS_RATE ?? 4);
const jwtSecret = 'infrastructure-faults-secret-long-enough-for-hs256';
const leadMs = 4_000;
const trailMs = 8_000;
// Every job accepted in a batch must be terminal this long after the batch stops submitting.
const terminalBoundMs = 45_000;
// FAULTS_WARM_POOL_SIZE=0 runs the batches on the cold path alone.
const warmPoolSize = Number(process.env.FAULTS_WARM_POOL_SIZE ?? 2);
// Two workers, one sandbox profile (every job here runs the test image without outputs).
const poolCapacity = 2 * warmPoolSize;

let root: string;
let postgres: PrivatePostgres;
let redis: PrivateRedis;
let dockerd: PrivateDockerd;
let apiPort: number;
let token: string;
const prefix = `faults-infra-${randomUUID().slice(0, 8)}`;
const summaries: string[] = [];

interface Role {
  readonly name: string;
  readonly role: 'api' | 'dispatcher' | 'worker';
  child: ChildProcess;
  /** Complete lines it printed, stdout and stderr. */
  readonly lines: string[];
  /** Exits seen (restarted for the next batch, reported by the batch that saw them). */
  readonly exits: string[];
}
const roles: Role[] = [];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const alive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

function roleEnv(): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/root',
    DATABASE_URL: postgres.url('omni'),
    REDIS_URL: redis.url,
    DOCKER_HOST: dockerd.host,
    QUEUE_PREFIX: prefix,
    SANDBOX_IMAGES: testImage,
    // The warm pool on, as deployed: its waiting containers are told apart when counting leftovers.
    SANDBOX_WARM_POOL_SIZE: String(warmPoolSize),
    JWT_SECRET: jwtSecret,
    PORT: String(apiPort),
    HOST: '127.0.0.1',
    RATE_LIMIT_PER_SUBJECT: '1000000',
    RATE_LIMIT_PER_TENANT: '1000000',
    WORKER_CONCURRENCY: '4',
    TENANT_MAX_RUNNING: '16',
    WORKER_LEASE_MS: '3000',
    WORKER_SHUTDOWN_GRACE_MS: '3000',
    RECONCILE_INTERVAL_MS: '1000',
    RETRY_DEFAULT_INITIAL_MS: '200',
    SANDBOX_DEFAULT_MEMORY_MB: '32',
    SANDBOX_DEFAULT_PIDS: '16',
    LOG_LEVEL: process.env.FAULTS_LOG_LEVEL ?? 'info',
  };
}

/** Spawns the role; lines are split on newlines across chunks, so a long JSON line stays whole. */
function spawnRole(role: Role['role']): ChildProcess {
  return spawn(process.execPath, [mainScript, role], { env: roleEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
}
function watch(entry: Role): void {
  const { child } = entry;
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream?.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      entry.lines.push(...parts.filter((line) => line.length > 0));
    });
    stream?.on('end', () => {
      if (partial.length > 0) entry.lines.push(partial);
      partial = '';
    });
  }
  child.once('exit', (code, signal) => entry.exits.push(`${entry.name} exited (${signal ?? code})`));
}
function startRole(name: string, role: Role['role']): Role {
  const entry: Role = { name, role, child: spawnRole(role), lines: [], exits: [] };
  watch(entry);
  roles.push(entry);
  return entry;
}
async function stopRole(entry: Role, signal: NodeJS.Signals): Promise<void> {
  if (!alive(entry.child)) return;
  const exited = new Promise((resolve) => entry.child.once('exit', resolve));
  entry.child.kill(signal);
  await Promise.race([exited, sleep(10_000)]);
  if (alive(entry.child)) {
    entry.child.kill('SIGKILL');
    await exited;
  }
}

async function apiAnswers(): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${apiPort}/v1/jobs?limit=1`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(2_000),
    });
    await response.body?.cancel();
    return response.status < 500;
  } catch {
    return false;
  }
}

/** Jobs in flight: every accepted job of the warm-up must succeed before the first fault. */
async function waitForTerminal(ids: readonly string[], boundMs: number): Promise<number> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const byJob = await readJobEvents(postgres.url('omni'), ids).catch(() => undefined);
    const done = byJob ? [...byJob.values()].filter(isTerminalStream).length : 0;
    if (done === ids.length || Date.now() > deadline) return done;
    await sleep(1_000);
  }
}

const jobBody = () => ({
  image: testImage,
  command: ['sh', '-c', `sleep 0.${1 + Math.floor(Math.random() * 4)}; echo ok`],
  // One attempt: an attempt the infrastructure spent would leave the job failed, so a job that
  // ran again after a fault proves that retry was not counted against it.
  retry: { maxAttempts: 1 },
});

beforeAll(async () => {
  root = await mkdtemp('/tmp/omni-faults-');
  [postgres, redis, dockerd] = await Promise.all([
    startPrivatePostgres(root),
    startPrivateRedis(root),
    startPrivateDockerd(root),
  ]);
  apiPort = await freePort();
  token = await mintToken({ secret: jwtSecret, subject: 'faults', tenant: 'faults' });
  await execFileAsync(process.execPath, [mainScript, 'migrate'], { env: roleEnv(), timeout: 60_000 });
  startRole('api', 'api');
  startRole('dispatcher', 'dispatcher');
  startRole('worker-1', 'worker');
  startRole('worker-2', 'worker');
  const deadline = Date.now() + 30_000;
  while (!(await apiAnswers())) {
    if (Date.now() > deadline)
      throw new Error(`the API did not answer within 30 s:\n${roles[0]?.lines.join('\n')}`);
    await sleep(200);
  }
  // Warm-up: the pipeline runs jobs end to end before anything is broken.
  const warmUp = startSteadySubmitter({
    url: `http://127.0.0.1:${apiPort}`,
    token,
    perSecond,
    body: jobBody,
    giveUpMs: 10_000,
    requestTimeoutMs: 5_000,
  });
  await sleep(2_000);
  const ids = (await warmUp.stop()).flatMap((outcome) => (outcome.kind === 'accepted' ? [outcome.id] : []));
  const done = await waitForTerminal(ids, 30_000);
  if (ids.length === 0 || done < ids.length)
    throw new Error(
      `warm-up: ${done}/${ids.length} jobs finished; statuses ${JSON.stringify([...warmUp.statuses])}`,
    );
}, 180_000);

afterAll(async () => {
  await Promise.all(roles.map((entry) => stopRole(entry, 'SIGTERM')));
  // FAULTS_LOG_DIR keeps every role's lines, one file per role, for reading a failure afterwards.
  const logDir = process.env.FAULTS_LOG_DIR;
  if (logDir)
    await Promise.all(
      roles.map((entry) => writeFile(join(logDir, `${entry.name}.log`), entry.lines.join('\n'))),
    );
  await Promise.all([postgres?.destroy(), redis?.destroy(), dockerd?.destroy()]);
  if (root) await rm(root, { recursive: true, force: true });
  console.log(`infrastructure faults:\n  ${summaries.join('\n  ')}`);
}, 120_000);

interface Fault {
  readonly name: string;
  /** Injects the fault and returns whether it provably happened, with what proves it. */
  inject(): Promise<{ readonly happened: boolean; readonly proof: string }>;
}

const faults: readonly Fault[] = [
  {
    name: 'Postgres fast restart',
    async inject() {
      const before = await postgres.startTime();
      await postgres.restartFast();
      const after = await postgres.startTime();
      return { happened: before !== after, proof: `postmaster start ${before} → ${after}` };
    },
  },
  {
    name: 'Postgres down for 10 s',
    async inject() {
      const before = await postgres.startTime();
      await postgres.stop();
      const refusedWhileDown = !(await postgres.isReady());
      await sleep(10_000);
      await postgres.start();
      const after = await postgres.startTime();
      return {
        happened: before !== after && refusedWhileDown,
        proof: `refused connections while down: ${refusedWhileDown}; postmaster start ${before} → ${after}`,
      };
    },
  },
  {
    name: 'Redis restart with data loss',
    async inject() {
      const sentinel = `${prefix}:fault-sentinel`;
      const client = new Redis(redis.url, { maxRetriesPerRequest: 1, lazyConnect: true });
      client.on('error', () => undefined);
      await client.connect();
      await client.set(sentinel, 'present');
      client.disconnect();
      const keysBefore = await redis.keyCount();
      const runBefore = await redis.runId();
      await redis.restart();
      const runAfter = await redis.runId();
      const check = new Redis(redis.url, { maxRetriesPerRequest: 1, lazyConnect: true });
      check.on('error', () => undefined);
      await check.connect();
      const sentinelGone = (await check.exists(sentinel)) === 0;
      check.disconnect();
      return {
        happened: keysBefore > 1 && runBefore !== runAfter && sentinelGone,
        proof: `${keysBefore} keys before, sentinel gone: ${sentinelGone}, run_id ${runBefore.slice(0, 8)} → ${runAfter.slice(0, 8)}`,
      };
    },
  },
  {
    name: 'Docker engine SIGKILL and restart',
    async inject() {
      const { before, after } = await dockerd.kill9AndRestart(2_000);
      let oldGone = true;
      try {
        process.kill(before, 0);
        oldGone = false;
      } catch {}
      return {
        happened: before !== after && oldGone,
        proof: `dockerd pid ${before} → ${after} (old one gone: ${oldGone})`,
      };
    },
  },
  {
    name: 'Docker engine stops answering for 10 s (SIGSTOP)',
    async inject() {
      const { stopped, pingTimedOut } = await dockerd.stopFor(10_000);
      return {
        happened: stopped && pingTimedOut,
        proof: `dockerd ${dockerd.pid()} seen stopped: ${stopped}, a ping timed out: ${pingTimedOut}`,
      };
    },
  },
];

for (const fault of faults) {
  it(`${fault.name}: every accepted job ends, once, with no attempt spent on the fault`, async () => {
    // A role that died in an earlier batch was reported there; this batch starts with all four up.
    for (const entry of roles) {
      if (!alive(entry.child)) {
        entry.child = spawnRole(entry.role);
        watch(entry);
      }
    }
    // Containers an earlier batch left failed that batch; this one answers for its own.
    const earlierContainers = new Set((await dockerd.containers()).map((container) => container.Id));
    const linesAtStart = new Map(roles.map((entry) => [entry, entry.lines.length]));
    const exitsAtStart = new Map(roles.map((entry) => [entry, entry.exits.length]));
    const submitter = startSteadySubmitter({
      url: `http://127.0.0.1:${apiPort}`,
      token,
      perSecond,
      body: jobBody,
      giveUpMs: 30_000,
      requestTimeoutMs: 5_000,
    });
    await sleep(leadMs);
    // The fault must meet attempts in flight, or the paths it should exercise are not.
    let running = 0;
    for (let i = 0; i < 100 && running === 0; i += 1) {
      running = await runningAttempts(postgres.url('omni')).catch(() => 0);
      if (running === 0) await sleep(100);
    }
    const faultStartedAt = Date.now();
    const { happened, proof } = await fault.inject();
    const faultEndedAt = Date.now();
    await sleep(trailMs);
    const outcomes: SubmitOutcome[] = await submitter.stop();
    const accepted = outcomes.flatMap((outcome) => (outcome.kind === 'accepted' ? [outcome.id] : []));
    const done = await waitForTerminal(accepted, terminalBoundMs);
    const findings = examineBatch(await readJobEvents(postgres.url('omni'), accepted), faultEndedAt);

    // Containers of finished attempts are removed at once; one left by the fault is reaped. The
    // pool's waiting ones stay while their workers live.
    const ownContainers = async () =>
      withoutWaitingPool(
        (await dockerd.containers()).filter((container) => !earlierContainers.has(container.Id)),
        poolCapacity,
      );
    let containers = await ownContainers();
    for (let i = 0; i < 30 && containers.length > 0; i += 1) {
      await sleep(500);
      containers = await ownContainers();
    }
    const exits = roles.flatMap((entry) => entry.exits.slice(exitsAtStart.get(entry) ?? 0));
    const notJson = roles.flatMap((entry) =>
      entry.lines.slice(linesAtStart.get(entry) ?? 0).flatMap((line) => {
        try {
          JSON.parse(line);
          return [];
        } catch {
          return [`${entry.name}: ${line.slice(0, 300)}`];
        }
      }),
    );
    // What the roles complained about: the reader of a failure starts here.
    const complaints = roles.flatMap((entry) =>
      entry.lines.slice(linesAtStart.get(entry) ?? 0).flatMap((line) => {
        try {
          const parsed = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
          return (parsed.level ?? 0) >= 40
            ? [
                `${entry.name} ${parsed.level}: ${parsed.msg}${parsed.err?.message ? ` (${parsed.err.message.slice(0, 160)})` : ''}`,
              ]
            : [];
        } catch {
          return [];
        }
      }),
    );
    const complaintCounts: Record<string, number> = {};
    for (const complaint of complaints) complaintCounts[complaint] = (complaintCounts[complaint] ?? 0) + 1;
    const clientSaw = Object.fromEntries(submitter.statuses);
    const unexpectedStatuses = Object.keys(clientSaw).filter(
      (status) => !['200', '202', '503', 'timeout'].includes(status),
    );
    const notAccepted = outcomes.filter((outcome) => outcome.kind !== 'accepted');
    const waits = outcomes.flatMap((outcome) => (outcome.kind === 'accepted' ? [outcome.waitedMs] : []));
    const retried = outcomes.filter((outcome) => outcome.kind === 'accepted' && outcome.tries > 1).length;
    const summary =
      `${fault.name}: fault ${faultEndedAt - faultStartedAt} ms, recovery ${findings.recoveryMs ?? 'none'} ms ` +
      `(fault end → first success of an attempt started after it); ${outcomes.length} submitted, ` +
      `${accepted.length} accepted (${retried} after retrying, longest wait ${Math.max(0, ...waits)} ms), ` +
      `${notAccepted.length} not (client saw ${JSON.stringify(clientSaw)}); ` +
      `${done}/${accepted.length} terminal (slowest ${findings.slowestMs} ms submitted → terminal); outcomes ${JSON.stringify(findings.outcomes)}, by path ${JSON.stringify(findings.paths)}; ` +
      `interrupted attempts ${JSON.stringify(findings.interrupted)}, ${findings.freeRetries} free retries; ` +
      `${containers.length} containers left; ${exits.length} role exits; ${notJson.length} non-JSON lines; ` +
      `${running} attempts running at the fault; ${proof}` +
      Object.entries(complaintCounts)
        .slice(0, 12)
        .map(([complaint, n]) => `\n      ${n}× ${complaint}`)
        .join('');
    summaries.push(summary);
    console.log(summary);
    const sample = (list: readonly string[]) => list.slice(0, 5);
    expect({
      faultHappened: happened,
      notTerminal: sample(findings.notTerminal),
      doubled: sample(findings.doubled),
      consumedByFault: sample(findings.consumed),
      containersLeft: containers.map((container) => `${container.Id.slice(0, 12)} ${container.State}`),
      roleExits: exits,
      nonJsonLines: sample(notJson),
      unexpectedStatuses,
      acceptedSome: accepted.length > 0,
      metAttemptsInFlight: running > 0,
      recovered: findings.recoveryMs !== undefined,
      // With the pool on, the fault met the warm path (most trivial jobs take it).
      ranWarm: warmPoolSize === 0 || (findings.paths.warm ?? 0) > 0,
    }).toEqual({
      faultHappened: true,
      notTerminal: [],
      doubled: [],
      consumedByFault: [],
      containersLeft: [],
      roleExits: [],
      nonJsonLines: [],
      unexpectedStatuses: [],
      acceptedSome: true,
      metAttemptsInFlight: true,
      recovered: true,
      ranWarm: true,
    });
  }, 240_000);
}
