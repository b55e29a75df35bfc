import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore, type EventStore } from '../../events/event-store.ts';
import { executeJobCommand } from '../../jobs/job-stream.ts';
import { resolveJobSpec } from '../../jobs/resolve-job-spec.ts';
import { jobQueueName } from '../../workers/job-queue.ts';
import { type RoleProcess, startRoleProcess } from '../support/role-process.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { testImage } from '../support/test-image.ts';
import { testPolicy } from '../support/test-policy.ts';

let database: TestDatabase;
let store: EventStore;
let redis: Redis;
let queue: Queue;
const prefix = `test-${randomUUID()}`;
const dispatchers: RoleProcess[] = [];

beforeAll(async () => {
  database = await createTestDatabase('failover');
  store = createEventStore(database.db);
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
  queue = new Queue(jobQueueName, { connection: redis, prefix });
});
afterAll(async () => {
  for (const dispatcher of dispatchers) await dispatcher.kill();
  await queue?.obliterate({ force: true }).catch(() => undefined);
  await queue?.close();
  redis?.disconnect();
  await database?.destroy();
});

async function submitJobs(count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, () => randomUUID());
  for (const id of ids) {
    // Far in the future: nothing here runs them, and a reconciler must not expire them meanwhile.
    const spec = resolveJobSpec({ image: testImage, command: ['true'] }, testPolicy);
    await executeJobCommand(store, id, { type: 'SubmitJob', spec }, { actor: 'failover-test' });
  }
  return ids;
}

async function messagesFor(ids: readonly string[]) {
  const jobs = await queue.getJobs([
    'waiting',
    'prioritized',
    'delayed',
    'active',
    'completed',
    'failed',
    'wait',
  ]);
  const byJob = new Map<string, number>();
  for (const job of jobs) byJob.set(String(job.data.jobId), (byJob.get(String(job.data.jobId)) ?? 0) + 1);
  return ids.map((id) => byJob.get(id) ?? 0);
}

async function eventually(check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await check()) return Date.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

describe('dispatcher leader election', () => {
  it('keeps one dispatcher active; when it is killed the standby takes over within seconds, skipping and repeating nothing', async () => {
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: prefix,
      SANDBOX_IMAGES: testImage,
      LOG_LEVEL: 'info',
    };
    dispatchers.push(startRoleProcess('dispatcher', env), startRoleProcess('dispatcher', env));
    const activeLine = await Promise.race(
      dispatchers.map(async (dispatcher, index) => ({
        index,
        line: await dispatcher.waitFor(/now the active one/, 60_000),
      })),
    );
    const active = dispatchers[activeLine.index]!;
    const standby = dispatchers[1 - activeLine.index]!;
    // Give the standby time to try (and fail) to take the lock.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(standby.lines.some((line) => /now the active one/.test(line))).toBe(false);

    const before = await submitJobs(20);
    await eventually(async () => (await messagesFor(before)).every((count) => count === 1), 15_000);

    await active.kill('SIGKILL');
    const killedAt = Date.now();
    const after = await submitJobs(20);
    await standby.waitFor(/now the active one/, 15_000);
    const takeoverMs = Date.now() - killedAt;
    await eventually(async () => (await messagesFor(after)).every((count) => count === 1), 15_000);

    console.log(`standby took over in ${takeoverMs} ms`);
    expect(takeoverMs).toBeLessThan(10_000);
    // Each job has exactly one message: nothing skipped, nothing re-added.
    expect(await messagesFor([...before, ...after])).toEqual(Array(40).fill(1));
  });
});
