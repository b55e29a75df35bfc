import { afterAll, beforeAll, expect, it } from 'vitest';
import { logStart } from '../../events/event-store.ts';
import { eventually } from '../support/eventually.ts';
import { testImage } from '../support/test-image.ts';
import { type Receiver, startReceiver } from './receiver.ts';
import { startWebhookStack, type WebhookStack } from './webhook-stack.ts';

let stack: WebhookStack;
let receiver: Receiver;

beforeAll(async () => {
  stack = await startWebhookStack('webhook_fairness', { allowPrivate: true, timeoutMs: 3_000 });
  receiver = await startReceiver();
  await stack.startRole();
});
afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
});

it("does not let one tenant's hanging receivers hold every sender while another tenant waits", async () => {
  // 20 deliveries to a receiver that never answers: more than the role's 16 senders.
  const hogged: number[] = [];
  receiver.answer('/hangs', () => undefined);
  receiver.answer('/answers', (response) => {
    hogged.push(receiver.received.filter((request) => request.path === '/hangs').length);
    response.writeHead(200).end();
  });
  const jobs = await Promise.all(
    Array.from({ length: 20 }, () =>
      stack.submit(
        { image: testImage, command: ['true'], callback: { url: `${receiver.url}/hangs` } },
        'hog',
      ),
    ),
  );
  for (const { id } of jobs) await stack.finish(id, 'succeeded');
  await eventually(
    async () => receiver.received.length,
    (count) => count > 0,
  );
  const other = await stack.submit(
    { image: testImage, command: ['true'], callback: { url: `${receiver.url}/answers` } },
    'patient',
  );
  await stack.finish(other.id, 'succeeded');

  const order = await eventually(
    async () => stack.store.readAll(logStart, { limit: 1000, types: ['WebhookDelivered', 'WebhookFailed'] }),
    (events) => events.some((event) => event.type === 'WebhookDelivered'),
  );
  // Told while the hog's first attempts still hung (none had failed yet), with at most its
  // share of 4 of them in flight.
  expect(order[0]?.type).toBe('WebhookDelivered');
  expect(order[0]?.streamId).toBe(`job-${other.id}`);
  expect(hogged).toHaveLength(1);
  expect(hogged[0]).toBeLessThanOrEqual(4);
  expect(hogged[0]).toBeGreaterThan(0);
  receiver.answer('/hangs', (response) => response.writeHead(200).end());
});
