import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Resolve } from '../../webhooks/pinned-target.ts';
import { postWebhook } from '../../webhooks/post-webhook.ts';
import { type Receiver, startReceiver } from './receiver.ts';

let receiver: Receiver;
beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(() => receiver?.close());

/** Answers every name with these addresses, in this order, as a DNS server would. */
const answering =
  (...addresses: string[]): Resolve =>
  async () =>
    addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

const post = (resolve: Resolve, allowPrivate = true) =>
  postWebhook({
    url: `http://hooks.test:${receiver.port}/pinned`,
    headers: { 'content-type': 'application/json' },
    body: '{}',
    timeoutMs: 2_000,
    allowPrivate,
    resolve,
  });

it('falls back to the next checked address when the first refuses, as an unpinned client would', async () => {
  // Nothing listens on ::1 or 127.0.0.2 at this port; the receiver is on 127.0.0.1.
  expect(await post(answering('::1', '127.0.0.2', '127.0.0.1'))).toMatchObject({
    delivered: true,
    status: 200,
  });
  expect(receiver.received.at(-1)?.headers.host).toBe(`hooks.test:${receiver.port}`);
});

it('never tries an address of the answer deliveries may not reach, not even as a fallback', async () => {
  const before = receiver.received.length;
  expect(await post(answering('169.254.169.254', '127.0.0.1'))).toMatchObject({ delivered: true });
  // With private targets off, 127.0.0.1 is left out too, and nothing is left to try.
  expect(await post(answering('169.254.169.254', '127.0.0.1'), false)).toMatchObject({
    delivered: false,
    reason: 'forbidden-address',
  });
  expect(receiver.received.length - before).toBe(1);
});
