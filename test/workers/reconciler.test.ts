import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeJobCommand } from '../../jobs/job-stream.ts';
import { type ReconcilerDeps, reconcileOnce, startReconciler } from '../../workers/lifecycle/reconciler.ts';
import { createWorkerLeases } from '../../workers/lifecycle/worker-leases.ts';
import { eventually } from '../support/eventually.ts';
import { testImage } from '../support/test-image.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

// The reconciler re-derives the queue from the log. No dispatcher or worker runs here: every
// message and every decision in this file is the reconciler's own.
let stack: TestStack;
let redis: Redis;
let auth: Record<string, string>;

beforeAll(async () => {
  stack = await startTestStack('reconciler', { withWorkers: false });
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
  auth = { authorization: `Bearer ${await stack.token('operator')}`, 'content-type': 'application/json' };
});
afterAll(async () => {
  redis?.disconnect();
  await stack?.stop();
});

async function submit(extra: Record<string, unknown> = {}): Promise<string> {
  const response = await stack.app.request('/v1/jobs', {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ image: testImage, command: ['true'], ...extra }),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

const depsWith = (options: { withRedis: boolean; now?: () => Date }): ReconcilerDeps => ({
  db: stack.database.db,
  store: stack.store,
  queue: stack.queue,
  ...(options.withRedis ? { redis } : {}),
  leases: createWorkerLeases(stack.database.db),
  logger: pino({ level: 'silent' }),
  ...(options.now ? { now: options.now } : {}),
});

describe.each([
  { withRedis: true, name: 'with one pipeline per thousand attempts' },
  { withRedis: false, name: 'asking the queue attempt by attempt' },
])('a reconcile pass, $name', ({ withRedis }) => {
  it('queues each waiting attempt once, leaves live messages alone, and queues again what Redis lost', async () => {
    await stack.queue.obliterate({ force: true });
    const ids = [await submit(), await submit(), await submit()];
    const first = await reconcileOnce(depsWith({ withRedis }));
    expect(first.requeued).toBeGreaterThanOrEqual(3);
    for (const id of ids) expect(await stack.queue.getJob(`${id}-1`)).toBeDefined();
    expect((await reconcileOnce(depsWith({ withRedis }))).requeued).toBe(0);
    // Redis loses everything: the next pass re-derives every message from the log.
    await stack.queue.obliterate({ force: true });
    const again = await reconcileOnce(depsWith({ withRedis }));
    expect(again.requeued).toBe(first.requeued);
    for (const id of ids) expect(await stack.queue.getJob(`${id}-1`)).toBeDefined();
    // A message that finished while the log still waits (lost to an error) is redone.
    const finished = await stack.queue.getJob(`${ids[0]}-1`);
    await finished?.moveToFailed(new Error('lost'), '0', false).catch(() => undefined);
    await redis.zadd(stack.queue.toKey('failed'), Date.now(), `${ids[0]}-1`);
    expect((await reconcileOnce(depsWith({ withRedis }))).requeued).toBe(1);
  });

  it('expires a waiting attempt past its queue deadline, and abandons a running one whose worker is gone', async () => {
    await stack.queue.obliterate({ force: true });
    const expiring = await submit({ queueTimeoutMs: 60_000 });
    const running = await submit();
    await executeJobCommand(
      stack.store,
      running,
      { type: 'StartAttempt', attempt: 1, workerId: `ghost-${withRedis}` },
      { actor: 'test' },
    );
    const later = new Date(Date.now() + 120_000);
    const report = await reconcileOnce(depsWith({ withRedis, now: () => later }));
    expect(report.expired).toBe(1);
    expect(report.abandoned).toBe(1);
    const view = async (id: string) =>
      ((await (await stack.app.request(`/v1/jobs/${id}`, { headers: auth })).json()) as { status: string })
        .status;
    expect(await view(expiring)).toBe('expired');
    // Abandoned, then retried per the default policy or failed: no longer running either way.
    expect(await view(running)).not.toBe('running');
  });
});

describe('the reconciler loop', () => {
  it('between full passes looks only at what changed, and makes a full pass when Redis lost its sentinel', async () => {
    await stack.queue.obliterate({ force: true });
    const before = await submit();
    const reconciler = startReconciler({
      ...depsWith({ withRedis: true }),
      intervalMs: 100,
      fullPassEveryMs: 600_000,
    });
    try {
      // The first pass is a full one: the waiting job gets its message.
      expect(await eventually(() => stack.queue.getJob(`${before}-1`), Boolean)).toBeDefined();
      // A message lost while the job's stream stays as it was: passes that follow changes do not see it…
      await (await stack.queue.getJob(`${before}-1`))?.remove();
      // …while a job submitted since is seen at once.
      const after = await submit();
      expect(await eventually(() => stack.queue.getJob(`${after}-1`), Boolean)).toBeDefined();
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(await stack.queue.getJob(`${before}-1`)).toBeUndefined();
      // Redis loses its keys (the sentinel with them): the next pass is a full one again.
      await redis.del(stack.queue.toKey('omni-reconciled'));
      expect(await eventually(() => stack.queue.getJob(`${before}-1`), Boolean)).toBeDefined();
    } finally {
      await reconciler.stop();
    }
  });
});
