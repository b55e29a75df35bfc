import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobStreamId } from '../../jobs/job-stream.ts';
import { createDeliveryQueue } from '../../webhooks/delivery-queue.ts';
import { startWebhookDelivery } from '../../webhooks/webhook-delivery.ts';
import { eventually } from '../support/eventually.ts';
import { testImage } from '../support/test-image.ts';
import { type Receiver, startReceiver } from './receiver.ts';
import { startWebhookStack, type WebhookStack } from './webhook-stack.ts';

// Finished deliveries leave the work list after WEBHOOK_RETENTION_MS; their attempts stay on the
// jobs' streams.
let stack: WebhookStack;
let receiver: Receiver;

beforeAll(async () => {
  stack = await startWebhookStack('webhook_retention', { allowPrivate: true });
  receiver = await startReceiver();
});
afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
});

const deliveryDeps = () => ({
  db: stack.database.db,
  connectionString: stack.database.url,
  signing: stack.signing,
  logger: stack.deps.logger,
  allowPrivate: true,
  timeoutMs: 1_000,
  retryForMs: 60_000,
  pollMs: 100,
});

const rows = async () =>
  (
    await sql<{ job_id: string; finished: boolean }>`
      select job_id, finished_at is not null as finished from webhook_deliveries
    `.execute(stack.database.db)
  ).rows;

/** Makes the deliveries of these jobs look finished `ms` ago. */
const finishedAgo = (jobIds: readonly string[], ms: number) =>
  sql`
    update webhook_deliveries set finished_at = now() - ${ms} * interval '1 millisecond'
    where job_id = any(${jobIds}::uuid[])
  `.execute(stack.database.db);

/** Submits jobs with a callback to the receiver and ends them; resolves once each was delivered. */
async function deliveredJobs(count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let index = 0; index < count; index += 1) {
    const { id } = await stack.submit({
      image: testImage,
      command: ['true'],
      callback: { url: `http://127.0.0.1:${receiver.port}/retention` },
    });
    await stack.finish(id, 'succeeded');
    ids.push(id);
  }
  for (const id of ids)
    await eventually(
      async () => (await stack.store.readStream(jobStreamId(id))).some((e) => e.type === 'WebhookDelivered'),
      (delivered) => delivered,
    );
  return ids;
}

describe('webhook delivery retention', () => {
  it('prunes only finished deliveries past the retention, in chunks, keeping the attempts on the streams', async () => {
    const delivery = await startWebhookDelivery({ ...deliveryDeps(), subscriptionId: 'webhooks' });
    let ids: string[];
    try {
      ids = await deliveredJobs(3);
    } finally {
      await delivery.stop();
    }
    const [old, older, recent] = ids;
    if (!old || !older || !recent) throw new Error('three jobs expected');
    // A delivery still owed (never finished) is never pruned, however old.
    await sql`
      insert into webhook_deliveries (id, tenant, job_id, event_type, url, body, next_attempt_at, give_up_at, created_at)
      values (gen_random_uuid(), 'default', gen_random_uuid(), 'JobSucceeded', 'http://127.0.0.1:1/owed', '{}',
              now() + interval '1 hour', now() + interval '1 day', now() - interval '30 days')
    `.execute(stack.database.db);
    await finishedAgo([old, older], 8 * 24 * 3600_000);
    await finishedAgo([recent], 3600_000);

    const queue = createDeliveryQueue(stack.database.db);
    const week = 7 * 24 * 3600_000;
    expect(await queue.prune(week, 1)).toBe(1);
    expect(await queue.prune(week, 1_000)).toBe(1);
    expect(await queue.prune(week, 1_000)).toBe(0);
    const left = await rows();
    expect(left.map((row) => row.job_id)).toContain(recent);
    expect(left.map((row) => row.job_id)).not.toContain(old);
    expect(left.map((row) => row.job_id)).not.toContain(older);
    expect(left.filter((row) => !row.finished)).toHaveLength(1);
    for (const id of [old, older])
      expect((await stack.store.readStream(jobStreamId(id))).map((event) => event.type)).toContain(
        'WebhookDelivered',
      );
  });

  it('the active follower prunes on its own, every interval, at the configured retention', async () => {
    const delivery = await startWebhookDelivery({
      ...deliveryDeps(),
      subscriptionId: 'webhooks',
      retentionMs: 3600_000,
      pruneEveryMs: 200,
    });
    try {
      const [stale, fresh] = await deliveredJobs(2);
      if (!stale || !fresh) throw new Error('two jobs expected');
      await finishedAgo([stale], 2 * 3600_000);
      const left = await eventually(rows, (found) => !found.some((row) => row.job_id === stale), 10_000);
      expect(left.map((row) => row.job_id)).not.toContain(stale);
      expect(left.map((row) => row.job_id)).toContain(fresh);
    } finally {
      await delivery.stop();
    }
  });
});
