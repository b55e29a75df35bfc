import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logStart, type RecordedEvent } from '../../events/event-store.ts';
import { executeJobCommand } from '../../jobs/job-stream.ts';
import { startTelemetry, type Telemetry } from '../../services/telemetry/telemetry.ts';
import { eventually } from '../support/eventually.ts';
import { testImage } from '../support/test-image.ts';
import { type Receiver, signatureIsValid, startReceiver } from './receiver.ts';
import { startWebhookStack, type WebhookStack } from './webhook-stack.ts';

let stack: WebhookStack;
let receiver: Receiver;
let telemetry: Telemetry;

beforeAll(async () => {
  // Before the role starts, so its counter binds to this provider.
  telemetry = startTelemetry({ serviceName: 'omni-webhooks-test', autoInstrument: [] });
  // Private targets allowed: the receiver listens on 127.0.0.1. Attempts time out after 1 s.
  stack = await startWebhookStack('webhook_delivery', { allowPrivate: true, timeoutMs: 1_000 });
  receiver = await startReceiver();
  await stack.startRole();
});
afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
  await telemetry?.shutdown();
});

const job = (path: string, extra: Record<string, unknown> = {}) => ({
  image: testImage,
  command: ['true'],
  callback: { url: `${receiver.url}${path}` },
  ...extra,
});

const deliveryEvents = async (jobId: string) =>
  (await stack.store.readStream(`job-${jobId}`)).filter((event) => event.type.startsWith('Webhook'));

const receivedAt = (path: string) => receiver.received.filter((request) => request.path === path);

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('deliveries', () => {
  it('tells each terminal event once, signed, to the callback and to a subscription', async () => {
    const subscribed = await stack.request('/v1/webhooks', {
      method: 'POST',
      body: { url: `${receiver.url}/subscription`, events: ['terminal'] },
    });
    expect(subscribed.status).toBe(201);
    const subscription = (await subscribed.json()) as { id: string; secret: string };

    const succeeded = await stack.submit(job('/ends'));
    const failed = await stack.submit(job('/ends', { retry: { maxAttempts: 1 } }));
    const cancelled = await stack.submit(job('/ends'));
    const expired = await stack.submit(job('/ends', { queueTimeoutMs: 1_000 }));
    await stack.finish(succeeded.id, 'succeeded');
    await stack.finish(failed.id, 'failed');
    expect(
      (await stack.request(`/v1/jobs/${cancelled.id}/cancel`, { method: 'POST', body: {} })).status,
    ).toBe(200);
    await stack.finish(expired.id, 'expired');
    const jobs = [
      { ...succeeded, type: 'JobSucceeded', status: 'succeeded' },
      { ...failed, type: 'JobFailed', status: 'failed' },
      { ...cancelled, type: 'JobCancelled', status: 'cancelled' },
      { ...expired, type: 'JobExpired', status: 'expired' },
    ];

    await eventually(
      async () => receiver.received.length,
      (count) => count >= 8,
    );
    // A while more: nothing is told twice.
    await settle(1_500);
    const callbacks = receivedAt('/ends');
    const subscriptions = receivedAt('/subscription');
    expect(callbacks).toHaveLength(4);
    expect(subscriptions).toHaveLength(4);
    for (const { id, secret, type, status } of jobs) {
      const byJob = (request: { body: string }) =>
        (JSON.parse(request.body) as { data: { jobId: string } }).data.jobId === id;
      const callback = callbacks.find(byJob);
      const told = subscriptions.find(byJob);
      if (!callback || !told || !secret) throw new Error(`job ${id} was not told of`);
      expect(signatureIsValid(callback, secret)).toBe(true);
      expect(signatureIsValid(told, subscription.secret)).toBe(true);
      // Each target has its own secret: one's signature does not pass with the other's.
      expect(signatureIsValid(told, secret)).toBe(false);
      expect(JSON.parse(callback.body)).toMatchObject({ type, data: { jobId: id, status } });
      expect(Math.abs(Number(callback.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
      expect(callback.headers['webhook-id']).not.toBe(told.headers['webhook-id']);
      // The job's timeline shows both deliveries.
      const timeline = (await (await stack.request(`/v1/jobs/${id}/events`)).json()) as {
        events: { type: string; data: { deliveryId: string; status: number; attempt: number } }[];
      };
      const delivered = timeline.events.filter((event) => event.type === 'WebhookDelivered');
      expect(delivered.map((event) => event.data.deliveryId).sort()).toEqual(
        [callback.headers['webhook-id'], told.headers['webhook-id']].sort(),
      );
      expect(delivered.every((event) => event.data.status === 200 && event.data.attempt === 1)).toBe(true);
    }
    // The job's state is untouched by its deliveries.
    const view = (await (await stack.request(`/v1/jobs/${succeeded.id}`)).json()) as { status: string };
    expect(view).toMatchObject({ status: 'succeeded', callback: { url: `${receiver.url}/ends` } });
    expect((await stack.request(`/v1/webhooks/${subscription.id}`, { method: 'DELETE' })).status).toBe(204);
  });

  it('tells nothing of a failure a retry follows, only of the last one', async () => {
    const { id } = await stack.submit(job('/retried', { retry: { maxAttempts: 2, on: ['exit-code'] } }));
    await stack.finish(id, 'failed');
    await settle(1_500);
    expect(receivedAt('/retried')).toHaveLength(0);
  });

  it("tells a re-run's new end again, as a delivery of its own", async () => {
    const { id } = await stack.submit(job('/rerun', { retry: { maxAttempts: 1 } }));
    await stack.finish(id, 'failed');
    await eventually(
      async () => receivedAt('/rerun'),
      (found) => found.length === 1,
    );
    // The operator's re-run is not held up by the delivery events on the job's stream.
    expect((await stack.request(`/v1/jobs/${id}/retry`, { method: 'POST', body: {} })).status).toBe(202);
    await executeJobCommand(
      stack.store,
      id,
      { type: 'StartAttempt', attempt: 2, workerId: 'test-worker' },
      {},
    );
    await executeJobCommand(
      stack.store,
      id,
      {
        type: 'CompleteAttempt',
        attempt: 2,
        result: {
          reason: 'exited',
          exitCode: 0,
          stdout: '',
          stderr: '',
          outputTruncated: false,
          durationMs: 5,
        },
        now: new Date(),
        random: 0,
      },
      {},
    );
    const told = await eventually(
      async () => receivedAt('/rerun'),
      (found) => found.length === 2,
    );
    expect(told.map((request) => (JSON.parse(request.body) as { type: string }).type)).toEqual([
      'JobFailed',
      'JobSucceeded',
    ]);
    expect(told[0]?.headers['webhook-id']).not.toBe(told[1]?.headers['webhook-id']);
  });

  it('tells of an attempt abandoned with no retry left as the failure it is', async () => {
    const { id } = await stack.submit(job('/abandoned', { retry: { maxAttempts: 1 } }));
    await stack.finish(id, 'abandoned');
    const [told] = await eventually(
      async () => receivedAt('/abandoned'),
      (found) => found.length > 0,
    );
    expect(JSON.parse(told?.body ?? '{}')).toMatchObject({
      type: 'JobFailed',
      data: { jobId: id, status: 'failed', reason: 'abandoned' },
    });
  });

  it('retries a receiver failing three times, and the fourth attempt is delivered under the same id', async () => {
    receiver.answer('/flaky', (response, _request, count) =>
      response.writeHead(count <= 3 ? 500 : 204).end(),
    );
    const { id, secret } = await stack.submit(job('/flaky'));
    await stack.finish(id, 'succeeded');
    const events = await eventually(
      () => deliveryEvents(id),
      (found) => found.some((event) => event.type === 'WebhookDelivered'),
      30_000,
    );
    const requests = receivedAt('/flaky');
    expect(requests).toHaveLength(4);
    expect(new Set(requests.map((request) => request.headers['webhook-id'])).size).toBe(1);
    expect(requests.every((request) => signatureIsValid(request, secret ?? ''))).toBe(true);
    // Every attempt is in the log, in order, saying what happened.
    expect(events.map((event) => [event.type, (event.data as { attempt: number }).attempt])).toEqual([
      ['WebhookFailed', 1],
      ['WebhookFailed', 2],
      ['WebhookFailed', 3],
      ['WebhookDelivered', 4],
    ]);
    expect(events.slice(0, 3).map((event) => event.data)).toEqual(
      Array(3).fill(expect.objectContaining({ reason: 'http-status', status: 500, willRetry: true })),
    );
    expect(events[3]?.data).toMatchObject({ status: 204, url: `${receiver.url}/flaky` });
  });

  it('times out a receiver that hangs, and retries it', async () => {
    // The first request is never answered; the second is.
    receiver.answer('/hangs', (response, _request, count) => {
      if (count > 1) response.writeHead(200).end();
    });
    const { id } = await stack.submit(job('/hangs'));
    await stack.finish(id, 'succeeded');
    const events = await eventually(
      () => deliveryEvents(id),
      (found) => found.some((event) => event.type === 'WebhookDelivered'),
      20_000,
    );
    expect(events.map((event) => event.type)).toEqual(['WebhookFailed', 'WebhookDelivered']);
    expect(events[0]?.data).toMatchObject({ reason: 'timeout', attempt: 1, willRetry: true });
    expect((events[0]?.data as { durationMs?: number } | undefined)?.durationMs).toBeGreaterThanOrEqual(900);
  });

  it('reads no more than 64 KiB of an answer: one whose body never ends is delivered, not timed out', async () => {
    let written = 0;
    receiver.answer('/endless', (response) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(16 * 1024, 'x');
      const pump = () => {
        // Stops once the sender hangs up; until then, more and more.
        while (!response.destroyed && written < 64 * 1024 * 1024 && response.write(chunk))
          written += chunk.length;
        if (!response.destroyed) response.once('drain', pump);
      };
      pump();
    });
    const { id } = await stack.submit(job('/endless'));
    await stack.finish(id, 'succeeded');
    const events = await eventually(
      () => deliveryEvents(id),
      (found) => found.length > 0,
    );
    expect(events.map((event) => event.type)).toEqual(['WebhookDelivered']);
    expect(events[0]?.data).toMatchObject({ status: 200, attempt: 1 });
    // It hung up long before the receiver ran out of things to send.
    expect(written).toBeLessThan(16 * 1024 * 1024);
  });

  it('does not follow a redirect, not even to a receiver it may reach', async () => {
    const elsewhere = await startReceiver();
    try {
      receiver.answer('/moved', (response) =>
        response.writeHead(302, { location: `${elsewhere.url}/target` }).end(),
      );
      const { id } = await stack.submit(job('/moved'));
      await stack.finish(id, 'succeeded');
      const events = await eventually(
        () => deliveryEvents(id),
        (found) => found.length > 0,
      );
      expect(events[0]?.data).toMatchObject({ reason: 'http-status', status: 302, willRetry: true });
      await settle(500);
      expect(elsewhere.received).toHaveLength(0);
    } finally {
      await elsewhere.close();
    }
  });

  it("tells a tenant's subscription of its own jobs only", async () => {
    const subscribed = await stack.request('/v1/webhooks', {
      method: 'POST',
      tenant: 'globex',
      body: { url: `${receiver.url}/globex`, events: ['JobSucceeded'] },
    });
    expect(subscribed.status).toBe(201);
    const theirs = await stack.submit({ image: testImage, command: ['true'] }, 'globex');
    const ours = await stack.submit({ image: testImage, command: ['true'] }, 'acme');
    await stack.finish(ours.id, 'succeeded');
    await stack.finish(theirs.id, 'succeeded');
    await eventually(
      async () => receivedAt('/globex').length,
      (count) => count >= 1,
    );
    await settle(1_000);
    const told = receivedAt('/globex').map(
      (request) => (JSON.parse(request.body) as { data: { jobId: string } }).data.jobId,
    );
    expect(told).toEqual([theirs.id]);
  });

  it('refuses a callback or subscription at 169.254.169.254 even with private targets allowed', async () => {
    for (const url of ['http://169.254.169.254/latest/meta-data/', 'http://[fe80::a9fe:a9fe]/']) {
      const submitted = await stack.request('/v1/jobs', {
        method: 'POST',
        body: { image: testImage, command: ['true'], callback: { url } },
      });
      expect(submitted.status, url).toBe(400);
      const subscribed = await stack.request('/v1/webhooks', {
        method: 'POST',
        body: { url, events: ['terminal'] },
      });
      expect(subscribed.status, url).toBe(400);
    }
  });

  it('has every attempt it made in the log', async () => {
    const all: RecordedEvent[] = [];
    let position = logStart;
    for (;;) {
      const page = await stack.store.readAll(position, {
        limit: 1000,
        types: ['WebhookDelivered', 'WebhookFailed'],
      });
      const last = page.at(-1);
      if (!last) break;
      all.push(...page);
      position = { transactionId: last.transactionId, globalPosition: last.globalPosition };
    }
    // Attempts still in flight (the redirect keeps being retried) may not be recorded yet.
    expect(all.length).toBeGreaterThan(0);
    // And counted for operators, by outcome.
    const text = await telemetry.prometheusText();
    expect(text).toMatch(/omni_webhook_attempts_total\{[^}]*outcome="delivered"[^}]*\} [1-9]/);
    expect(text).toMatch(/omni_webhook_attempts_total\{[^}]*outcome="http-status"[^}]*\} [1-9]/);
    expect(text).toMatch(/omni_webhook_attempts_total\{[^}]*outcome="timeout"[^}]*\} [1-9]/);
    expect(all.length).toBeLessThanOrEqual(receiver.received.length);
    expect(receiver.received.length - all.length).toBeLessThanOrEqual(1);
  });
});
