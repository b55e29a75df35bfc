import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobStreamId } from '../../jobs/job-stream.ts';
import { webhookJobEventTypes } from '../../schemas/webhook-events.schema.ts';
import { planDeliveries } from '../../webhooks/delivery-plan.ts';
import { createDeliveryQueue } from '../../webhooks/delivery-queue.ts';
import type { Resolve } from '../../webhooks/pinned-target.ts';
import { startWebhookDelivery } from '../../webhooks/webhook-delivery.ts';
import { createWebhookSubscriptions } from '../../webhooks/webhook-subscriptions.ts';
import { eventually } from '../support/eventually.ts';
import { testImage } from '../support/test-image.ts';
import { type Receiver, startReceiver } from './receiver.ts';
import { startWebhookStack, type WebhookStack } from './webhook-stack.ts';

let stack: WebhookStack;
let receiver: Receiver;

beforeAll(async () => {
  // As a production deployment runs: private targets refused.
  stack = await startWebhookStack('webhook_guards', { allowPrivate: false, timeoutMs: 1_000 });
  receiver = await startReceiver();
});
afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
});

/** Names the tests control, as a DNS server would answer them (one of them rebinding to metadata). */
const answers: Record<string, string> = {
  'receiver.test': '127.0.0.1',
  'rebinds-to-metadata.test': '169.254.169.254',
  'intranet.test': '10.0.0.1',
};
const resolve: Resolve = async (hostname) => {
  // A resolver that never answers this one.
  if (hostname === 'silent-dns.test') return new Promise(() => undefined);
  const address = answers[hostname];
  if (!address) throw Object.assign(new Error(`${hostname} not found`), { code: 'ENOTFOUND' });
  return [{ address, family: 4 }];
};

const submitWithCallback = (url: string) =>
  stack.request('/v1/jobs', {
    method: 'POST',
    body: { image: testImage, command: ['true'], callback: { url } },
  });

const deliveryEvents = async (jobId: string) =>
  (await stack.store.readStream(jobStreamId(jobId))).filter((event) => event.type.startsWith('Webhook'));

const deliveryDeps = (allowPrivate: boolean) => ({
  db: stack.database.db,
  connectionString: stack.database.url,
  signing: stack.signing,
  logger: stack.deps.logger,
  allowPrivate,
  timeoutMs: 1_000,
  retryForMs: 60_000,
  pollMs: 100,
  resolve,
});

describe('targets refused at submit and subscribe', () => {
  const alwaysRefused = [
    'http://169.254.169.254/latest/meta-data/',
    // The same address spelt as one number, and inside IPv6.
    'http://2852039166/',
    'http://[::ffff:169.254.169.254]/',
    'http://[fe80::1]/',
    'http://0.0.0.0:8080/',
    'http://224.0.0.1/',
    'http://metadata.google.internal/computeMetadata/v1/',
  ];
  const refusedWhilePrivateIsOff = [
    'http://10.0.0.1/hook',
    'http://127.0.0.1:9/hook',
    'http://192.168.1.10/',
    'http://172.16.0.1/',
    'http://[::1]/',
    'http://[fd12:3456::1]/',
    'http://localhost:8080/',
  ];
  const malformed = [
    'ftp://example.com/',
    'https://user:password@example.com/',
    `https://example.com/${'a'.repeat(2048)}`,
    'not a url',
  ];

  it('refuses a callback at a link-local, metadata or reserved address with a 400, as it refuses a malformed one', async () => {
    for (const url of [...alwaysRefused, ...malformed]) {
      const response = await submitWithCallback(url);
      expect(response.status, url).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(await response.json()).toMatchObject({
        code: 'validation-failed',
        errors: [expect.objectContaining({ pointer: '/callback/url' })],
      });
    }
  });

  it('refuses loopback and private callbacks and subscriptions while WEBHOOK_ALLOW_PRIVATE is off', async () => {
    for (const url of refusedWhilePrivateIsOff) {
      const response = await submitWithCallback(url);
      expect(response.status, url).toBe(400);
      expect(await response.json()).toMatchObject({
        errors: [expect.objectContaining({ pointer: '/callback/url' })],
      });
      const subscribed = await stack.request('/v1/webhooks', {
        method: 'POST',
        body: { url, events: ['terminal'] },
      });
      expect(subscribed.status, url).toBe(400);
      expect(await subscribed.json()).toMatchObject({
        errors: [expect.objectContaining({ pointer: '/url' })],
      });
    }
    for (const url of alwaysRefused) {
      expect(
        (await stack.request('/v1/webhooks', { method: 'POST', body: { url, events: ['JobFailed'] } }))
          .status,
      ).toBe(400);
    }
  });

  it('takes a public name, whatever it will resolve to: that is judged at delivery', async () => {
    const response = await submitWithCallback('https://hooks.example.com/omni');
    expect(response.status).toBe(202);
    expect(await response.json()).toMatchObject({ callback: { secret: expect.stringMatching(/^whsec_/) } });
  });

  it('refuses an unknown event type, a repeated one, and none', async () => {
    for (const events of [['JobStarted'], ['JobFailed', 'JobFailed'], []]) {
      const response = await stack.request('/v1/webhooks', {
        method: 'POST',
        body: { url: 'https://hooks.example.com/x', events },
      });
      expect(response.status, JSON.stringify(events)).toBe(400);
    }
  });
});

describe("subscriptions are their tenant's own", () => {
  it('lists, shows and deletes only for the tenant that made it; the secret is never shown again', async () => {
    const created = await stack.request('/v1/webhooks', {
      method: 'POST',
      tenant: 'acme',
      body: { url: 'https://hooks.example.com/acme', events: ['JobSucceeded', 'JobExpired'] },
    });
    expect(created.status).toBe(201);
    const { id, secret } = (await created.json()) as { id: string; secret: string };
    expect(secret).toMatch(/^whsec_/);

    const listed = (await (await stack.request('/v1/webhooks', { tenant: 'acme' })).json()) as {
      webhooks: { id: string }[];
    };
    expect(listed.webhooks.map((webhook) => webhook.id)).toContain(id);
    expect(JSON.stringify(listed)).not.toContain(secret);
    expect(
      JSON.stringify(await (await stack.request(`/v1/webhooks/${id}`, { tenant: 'acme' })).json()),
    ).not.toContain(secret);

    const intruder = { tenant: 'globex' };
    const theirs = (await (await stack.request('/v1/webhooks', intruder)).json()) as { webhooks: unknown[] };
    expect(theirs.webhooks).toEqual([]);
    expect((await stack.request(`/v1/webhooks/${id}`, intruder)).status).toBe(404);
    expect((await stack.request(`/v1/webhooks/${id}`, { ...intruder, method: 'DELETE' })).status).toBe(404);
    // Still there for its owner; then gone, and its stream says so.
    expect((await stack.request(`/v1/webhooks/${id}`, { tenant: 'acme' })).status).toBe(200);
    expect((await stack.request(`/v1/webhooks/${id}`, { tenant: 'acme', method: 'DELETE' })).status).toBe(
      204,
    );
    expect((await stack.request(`/v1/webhooks/${id}`, { tenant: 'acme' })).status).toBe(404);
    const stream = await stack.store.readStream(`webhook-${id}`);
    expect(stream.map((event) => event.type)).toEqual(['WebhookSubscribed', 'WebhookUnsubscribed']);
    expect(JSON.stringify(stream)).not.toContain(secret.slice(6));
  });
});

describe('how many', () => {
  it("holds a tenant to its cap of subscriptions, however many ask at once, and counts only the tenant's live ones", async () => {
    const subscriptions = createWebhookSubscriptions(stack.database.db, stack.signing, { maxPerTenant: 3 });
    const input = { url: 'https://hooks.example.com/capped', events: ['terminal' as const] };
    const created = await Promise.all(
      Array.from({ length: 6 }, () => subscriptions.create('capped', input, { actor: 'tester' })),
    );
    expect(created.filter((outcome) => outcome !== undefined)).toHaveLength(3);
    // Another tenant is not counted against it; an ended subscription frees its place.
    expect(await subscriptions.create('uncapped', input, {})).toBeDefined();
    const first = created.find((outcome) => outcome !== undefined);
    if (!first) throw new Error('none was created');
    expect(await subscriptions.remove('capped', first.subscription.id, {})).toBe(true);
    expect(await subscriptions.create('capped', input, {})).toBeDefined();
    expect(await subscriptions.create('capped', input, {})).toBeUndefined();
  });

  it('answers 409 past the cap through the API', async () => {
    const body = { url: 'https://hooks.example.com/many', events: ['JobSucceeded'] };
    const statuses: number[] = [];
    for (let index = 0; index < 50; index += 1) {
      statuses.push((await stack.request('/v1/webhooks', { method: 'POST', tenant: 'busy', body })).status);
    }
    expect(statuses.every((status) => status === 201)).toBe(true);
    const refused = await stack.request('/v1/webhooks', { method: 'POST', tenant: 'busy', body });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ code: 'too-many-webhooks' });
  });
});

describe('at delivery', () => {
  it('retries a delivery whose sender died in flight: the lapsed lease is taken again and it arrives once', async () => {
    const { id, secret } = await stack.submit({
      image: testImage,
      command: ['true'],
      callback: { url: `http://receiver.test:${receiver.port}/crash` },
    });
    expect(secret).toBeDefined();
    await stack.finish(id, 'succeeded');
    // A sender that owed the delivery and took it for its first attempt, then died before recording anything.
    const [ended] = (await stack.store.readStream(jobStreamId(id))).filter((event) =>
      (webhookJobEventTypes as readonly string[]).includes(event.type),
    );
    if (!ended) throw new Error('the job did not end');
    const queue = createDeliveryQueue(stack.database.db);
    const owed = await planDeliveries(ended, {
      store: stack.store,
      subscriptions: createWebhookSubscriptions(stack.database.db, stack.signing),
    });
    await queue.owe(owed, 60_000);
    expect(await queue.claim(10, 1_000, 4)).toHaveLength(1);

    // A new process starts: its follower owes the same delivery again (the same id: nothing new),
    // and its sender takes it once the dead one's lease lapsed.
    const delivery = await startWebhookDelivery({ ...deliveryDeps(true), subscriptionId: 'webhooks' });
    try {
      const events = await eventually(
        () => deliveryEvents(id),
        (found) => found.length > 0,
      );
      expect(events.map((event) => [event.type, (event.data as { attempt: number }).attempt])).toEqual([
        ['WebhookDelivered', 2],
      ]);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(receiver.received.filter((request) => request.path === '/crash')).toHaveLength(1);
    } finally {
      await delivery.stop();
    }
  });

  it('refuses a name that resolves to a forbidden or (while private is off) private address, and records why', async () => {
    const delivery = await startWebhookDelivery({ ...deliveryDeps(false), subscriptionId: 'webhooks' });
    try {
      const metadata = await stack.submit({
        image: testImage,
        command: ['true'],
        callback: { url: 'http://rebinds-to-metadata.test/latest/meta-data/' },
      });
      const intranet = await stack.submit({
        image: testImage,
        command: ['true'],
        callback: { url: `http://intranet.test/hook` },
      });
      const unknown = await stack.submit({
        image: testImage,
        command: ['true'],
        callback: { url: 'http://nowhere.test/' },
      });
      const silent = await stack.submit({
        image: testImage,
        command: ['true'],
        callback: { url: 'http://silent-dns.test/' },
      });
      for (const { id } of [metadata, intranet, unknown, silent]) await stack.finish(id, 'succeeded');
      for (const { id } of [metadata, intranet]) {
        const events = await eventually(
          () => deliveryEvents(id),
          (found) => found.length > 0,
        );
        expect(events).toHaveLength(1);
        // An address deliveries may not reach is not tried again.
        expect(events[0]?.data).toMatchObject({ reason: 'forbidden-address', attempt: 1, willRetry: false });
      }
      const unresolved = await eventually(
        () => deliveryEvents(unknown.id),
        (found) => found.length > 0,
      );
      expect(unresolved[0]?.data).toMatchObject({ reason: 'dns', willRetry: true });
      // The lookup is part of the attempt's time: one that never answers is a timeout, retried.
      const unanswered = await eventually(
        () => deliveryEvents(silent.id),
        (found) => found.length > 0,
      );
      expect(unanswered[0]?.data).toMatchObject({ reason: 'timeout', willRetry: true });
    } finally {
      await delivery.stop();
    }
  });
});
