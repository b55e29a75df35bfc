import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { jobStreamId } from '../../jobs/job-stream.ts';
import { postWebhook } from '../../webhooks/post-webhook.ts';
import { eventually } from '../support/eventually.ts';
import { type RoleProcess, startRoleProcess } from '../support/role-process.ts';
import { testImage } from '../support/test-image.ts';
import { testSecretKey } from '../support/test-stack.ts';
import { startWebhookStack, type WebhookStack } from './webhook-stack.ts';

let stack: WebhookStack;
let directory: string;
let server: Server;
let port: number;
const received: string[] = [];
const processes: RoleProcess[] = [];

beforeAll(async () => {
  // A certificate for `localhost` that no trust store holds unless told to.
  directory = mkdtempSync(join(tmpdir(), 'omni-webhook-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost',
      '-keyout',
      join(directory, 'key.pem'),
      '-out',
      join(directory, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  server = createServer(
    { key: readFileSync(join(directory, 'key.pem')), cert: readFileSync(join(directory, 'cert.pem')) },
    (request, response) => {
      received.push(String(request.headers.host));
      request.resume();
      request.on('end', () => response.writeHead(204).end());
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  stack = await startWebhookStack('webhook_tls', { allowPrivate: true });
});
afterAll(async () => {
  for (const role of processes) await role.kill();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await stack?.stop();
  rmSync(directory, { recursive: true, force: true });
});

it('checks the certificate though it connects to a pinned address: an untrusted one fails the attempt', async () => {
  const outcome = await postWebhook({
    url: `https://localhost:${port}/hook`,
    headers: { 'content-type': 'application/json' },
    body: '{}',
    timeoutMs: 2_000,
    allowPrivate: true,
  });
  expect(outcome).toMatchObject({
    delivered: false,
    reason: 'connection',
    detail: 'DEPTH_ZERO_SELF_SIGNED_CERT',
  });
  expect(received).toHaveLength(0);
});

it('delivers over TLS to the name the certificate holds, once the certificate is trusted', async () => {
  const role = startRoleProcess('webhooks', {
    DATABASE_URL: stack.database.url,
    SECRETS_KEYS: `${testSecretKey.id}:${testSecretKey.key.toString('base64')}`,
    WEBHOOK_ALLOW_PRIVATE: 'true',
    NODE_EXTRA_CA_CERTS: join(directory, 'cert.pem'),
    LOG_LEVEL: 'info',
  });
  processes.push(role);
  await role.waitFor(/now the active one/);
  const { id } = await stack.submit({
    image: testImage,
    command: ['true'],
    callback: { url: `https://localhost:${port}/hook` },
  });
  await stack.finish(id, 'succeeded');
  const events = await eventually(
    async () =>
      (await stack.store.readStream(jobStreamId(id))).filter((event) => event.type.startsWith('Webhook')),
    (found) => found.length > 0,
  );
  expect(events.map((event) => event.type)).toEqual(['WebhookDelivered']);
  expect(events[0]?.data).toMatchObject({ status: 204 });
  // The request named the host it was for, not the address it went to.
  expect(received).toEqual([`localhost:${port}`]);
}, 30_000);
