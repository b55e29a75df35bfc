import { afterAll, beforeAll, expect, it } from 'vitest';
import { jobStreamId } from '../../jobs/job-stream.ts';
import { eventually } from '../support/eventually.ts';
import { type RoleProcess, startRoleProcess } from '../support/role-process.ts';
import { testImage } from '../support/test-image.ts';
import { testSecretKey } from '../support/test-stack.ts';
import { type Receiver, signatureIsValid, startReceiver } from './receiver.ts';
import { startWebhookStack, type WebhookStack } from './webhook-stack.ts';

let stack: WebhookStack;
let receiver: Receiver;
const processes: RoleProcess[] = [];

beforeAll(async () => {
  stack = await startWebhookStack('webhook_crash', { allowPrivate: true });
  receiver = await startReceiver();
});
afterAll(async () => {
  for (const role of processes) await role.kill();
  await stack?.stop();
  await receiver?.close();
});

/** `omni webhooks` as a process of its own, as compose runs it. */
const startWebhooksProcess = () => {
  const role = startRoleProcess('webhooks', {
    DATABASE_URL: stack.database.url,
    SECRETS_KEYS: `${testSecretKey.id}:${testSecretKey.key.toString('base64')}`,
    WEBHOOK_ALLOW_PRIVATE: 'true',
    // Its lease on a delivery lasts 2 × this + 5 s: 7 s.
    WEBHOOK_TIMEOUT_MS: '1000',
    LOG_LEVEL: 'info',
  });
  processes.push(role);
  return role;
};

it('delivers, once its lease lapses, what a webhooks process SIGKILLed mid-delivery had in flight', async () => {
  const first = startWebhooksProcess();
  await first.waitFor(/now the active one/);
  let inFlight: () => void = () => undefined;
  const arrived = new Promise<void>((resolve) => {
    inFlight = resolve;
  });
  // The first request is held open (the process dies while it waits); later ones are answered.
  receiver.answer('/crash', (response, _request, count) => {
    if (count === 1) inFlight();
    else response.writeHead(200).end();
  });
  const { id, secret } = await stack.submit({
    image: testImage,
    command: ['true'],
    callback: { url: `${receiver.url}/crash` },
  });
  await stack.finish(id, 'succeeded');
  await arrived;
  await first.kill('SIGKILL');

  const second = startWebhooksProcess();
  await second.waitFor(/now the active one/);
  const events = await eventually(
    async () =>
      (await stack.store.readStream(jobStreamId(id))).filter((event) => event.type.startsWith('Webhook')),
    (found) => found.length > 0,
    30_000,
  );
  // The attempt that died with its process left no event; the next one is attempt 2.
  expect(events.map((event) => [event.type, (event.data as { attempt: number }).attempt])).toEqual([
    ['WebhookDelivered', 2],
  ]);
  const requests = receiver.received.filter((request) => request.path === '/crash');
  expect(requests).toHaveLength(2);
  // The same delivery both times: a receiver that saw the first would drop the second.
  expect(requests[0]?.headers['webhook-id']).toBe(requests[1]?.headers['webhook-id']);
  expect(requests.every((request) => signatureIsValid(request, secret ?? ''))).toBe(true);
}, 60_000);
