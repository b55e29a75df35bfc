import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createApp } from '../../services/api/app.ts';
import { type ServedApp, serveApp } from '../../services/api/serve.ts';
import { eventually } from '../support/eventually.ts';
import { testImage } from '../support/test-image.ts';
import { testPolicy } from '../support/test-policy.ts';
import { startTestStack, type TestStack, testTokenVerifier } from '../support/test-stack.ts';

let stack: TestStack;
let served: ServedApp;

beforeAll(async () => {
  // No workers: submitted jobs stay queued, so a watch socket stays open as long as the test needs.
  stack = await startTestStack('api-edge', { withWorkers: false });
  served = await serveApp(stack.app, { port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await served?.close();
  await stack?.stop();
});

const openFds = () => readdirSync('/proc/self/fd').length;

interface RawExchange {
  /** Everything the server sent, status line included. */
  readonly response: string;
  /** Whether the server ended the connection before the client did. */
  readonly closedByServer: boolean;
}

/**
 * Sends `request` on a fresh TCP connection and waits for a complete response (status, headers and
 * a Content-Length body). With `endAfterResponse` the client then ends its side; either way it
 * resolves only once the socket is fully closed, so a server that leaves it open fails the test.
 */
function rawExchange(request: string, options: { endAfterResponse: boolean }, timeoutMs = 5_000) {
  return new Promise<RawExchange>((resolve, reject) => {
    const socket = connect(served.port, '127.0.0.1');
    let response = '';
    let closedByServer = false;
    let ended = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(`no complete answer and close within ${timeoutMs} ms; got ${JSON.stringify(response)}`),
      );
    }, timeoutMs);
    socket.setEncoding('latin1');
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk: string) => {
      response += chunk;
      const headerEnd = response.indexOf('\r\n\r\n');
      if (headerEnd === -1 || ended || !options.endAfterResponse) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(response.slice(0, headerEnd))?.[1] ?? 0);
      if (response.length >= headerEnd + 4 + length) {
        ended = true;
        socket.end();
      }
    });
    socket.on('end', () => {
      if (!ended) closedByServer = true;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ response, closedByServer });
    });
  });
}

const h2cUpgrade = [
  'GET /healthz HTTP/1.1',
  'Host: 127.0.0.1',
  'Connection: Upgrade, HTTP2-Settings',
  'Upgrade: h2c',
  'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA',
  '',
  '',
].join('\r\n');

describe('upgrade requests', () => {
  it('answers an h2c upgrade as plain HTTP and lets the socket close: 3,000 of them leave no descriptor behind', async () => {
    const first = await rawExchange(h2cUpgrade, { endAfterResponse: true });
    expect(first.response).toMatch(/^HTTP\/1\.1 200 /);
    expect(first.response).toContain('{"status":"ok"}');

    const before = openFds();
    const tries = 3_000;
    const concurrency = 25;
    let next = 0;
    const statuses = new Map<string, number>();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < tries) {
          next += 1;
          const { response } = await rawExchange(h2cUpgrade, { endAfterResponse: true });
          const status = response.slice(0, 12);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
      }),
    );
    expect(Object.fromEntries(statuses)).toEqual({ 'HTTP/1.1 200': tries });
    // Every socket of the 3,000 is closed on both ends: the process holds as many descriptors as before.
    const after = await eventually(
      async () => openFds(),
      (count) => count <= before + 10,
      5_000,
    );
    expect(after - before).toBeLessThanOrEqual(10);
  });

  it('stops promptly (as on SIGTERM) while clients that asked for h2c keep their connections open', async () => {
    const own = await serveApp(stack.app, { port: 0, host: '127.0.0.1' });
    const sockets = Array.from({ length: 5 }, () => {
      const socket = connect(own.port, '127.0.0.1', () => socket.write(h2cUpgrade));
      socket.on('error', () => undefined);
      return socket;
    });
    // Let the server take the requests in, then stop it with the clients still connected.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    const stopped = await Promise.race([
      own.close().then(() => 'stopped'),
      new Promise((resolve) => setTimeout(() => resolve('still stopping after 5 s'), 5_000)),
    ]);
    expect(stopped).toBe('stopped');
    expect(Date.now() - started).toBeLessThan(2_000);
    for (const socket of sockets) socket.destroy();
  });

  it('answers a WebSocket upgrade on a route that takes none and closes the socket', async () => {
    for (const [path, status] of [
      ['/healthz', 200],
      ['/no-such-route', 404],
    ] as const) {
      const { response, closedByServer } = await rawExchange(
        [
          `GET ${path} HTTP/1.1`,
          'Host: 127.0.0.1',
          'Connection: Upgrade',
          'Upgrade: websocket',
          'Sec-WebSocket-Version: 13',
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
          '',
          '',
        ].join('\r\n'),
        { endAfterResponse: false },
      );
      expect(response).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      expect(response).not.toMatch(/^HTTP\/1\.1 101/);
      expect(closedByServer).toBe(true);
    }
  });
});

describe('upgrade requests on streaming routes', () => {
  it('a WebSocket upgrade on a Server-Sent Events route is answered and closed, and its feed stops', async () => {
    const token = await stack.token('streamer');
    const submitted = await stack.app.request('/v1/jobs', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ image: testImage, command: ['true'] }),
    });
    const { id } = (await submitted.json()) as { id: string };
    // Each open feed holds a heartbeat timer; one that outlives its socket is a leak.
    const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
    const before = timers();
    for (let i = 0; i < 20; i++) {
      const { response, closedByServer } = await rawExchange(
        [
          `GET /v1/jobs/${id}/output?follow=1 HTTP/1.1`,
          'Host: 127.0.0.1',
          `Authorization: Bearer ${token}`,
          'Connection: Upgrade',
          'Upgrade: websocket',
          'Sec-WebSocket-Version: 13',
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
          '',
          '',
        ].join('\r\n'),
        { endAfterResponse: false },
      );
      expect(response).toMatch(/^HTTP\/1\.1 200 /);
      expect(closedByServer).toBe(true);
    }
    const after = await eventually(
      async () => timers(),
      (count) => count <= before + 2,
      5_000,
    );
    expect(after - before).toBeLessThanOrEqual(2);
  });
});

describe('WebSocket watch', () => {
  it('refuses a 50 MiB client message with close code 1009 without buffering it', async () => {
    const token = await stack.token('watcher');
    const submitted = await stack.app.request('/v1/jobs', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ image: testImage, command: ['true'] }),
    });
    const { id } = (await submitted.json()) as { id: string };
    // Allocated (and touched) before the baseline: only what the server keeps of it counts.
    const message = Buffer.alloc(50 * 1024 * 1024, 0x61);
    const socket = new WebSocket(`${served.url.replace('http', 'ws')}/v1/jobs/${id}/watch`, {
      headers: { authorization: `Bearer ${token}` },
      // A zero mask lets the client send the buffer as it is: a masked copy would be 50 MiB more in
      // this process, which serves the API too.
      generateMask: (mask) => void mask.fill(0),
    });
    socket.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('unexpected-response', (_request, response) =>
        reject(new Error(`upgrade refused: ${response.statusCode}`)),
      );
    });
    const memory = () => {
      const { rss, arrayBuffers } = process.memoryUsage();
      return { rss, arrayBuffers };
    };
    const before = memory();
    const peak = { ...before };
    const sampler = setInterval(() => {
      const now = memory();
      peak.rss = Math.max(peak.rss, now.rss);
      peak.arrayBuffers = Math.max(peak.arrayBuffers, now.arrayBuffers);
    }, 5);
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    // One message in 1 MiB frames, each sent once the previous one left, for as long as the server
    // listens: a server that buffers gets all 50 MiB, one that refuses stops the client early.
    const frame = 1024 * 1024;
    let sent = 0;
    while (sent < message.length && socket.readyState === WebSocket.OPEN) {
      const end = sent + frame;
      await new Promise<void>((resolve) =>
        socket.send(message.subarray(sent, end), { binary: true, fin: end >= message.length }, () =>
          resolve(),
        ),
      );
      sent = end;
    }
    const code = await Promise.race([
      closed,
      new Promise<string>((resolve) => setTimeout(() => resolve('still open after 10 s'), 10_000)),
    ]);
    clearInterval(sampler);
    socket.terminate();
    expect(code).toBe(1009);
    const mebibyte = 1024 * 1024;
    expect((peak.rss - before.rss) / mebibyte).toBeLessThan(20);
    expect((peak.arrayBuffers - before.arrayBuffers) / mebibyte).toBeLessThan(20);
    expect(message.length).toBe(50 * mebibyte);
  });
});

describe('request ids', () => {
  const submitAs = (token: string, requestId: string) =>
    stack.app.request('/v1/jobs', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'x-request-id': requestId,
      },
      body: JSON.stringify({ image: testImage, command: ['true'] }),
    });

  it("keeps the client's X-Request-Id apart from the id the server assigns, in the stored event and the response", async () => {
    const borrowed = 'req-of-someone-else';
    const stored = [];
    for (const tenant of ['acme', 'globex']) {
      const response = await submitAs(await stack.token(`user-${tenant}`, { tenant }), borrowed);
      expect(response.status).toBe(202);
      const serverId = response.headers.get('x-request-id');
      expect(serverId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(response.headers.get('x-client-request-id')).toBe(borrowed);
      const { id } = (await response.json()) as { id: string };
      const [submitted] = await stack.store.readStream(`job-${id}`);
      expect(submitted?.metadata).toMatchObject({ tenant, requestId: serverId, clientRequestId: borrowed });
      stored.push(submitted?.metadata.requestId);
    }
    // The two tenants' jobs no longer share a request id, whatever the callers claimed.
    expect(new Set(stored).size).toBe(2);
  });

  it('ignores a client request id that is too long or carries odd characters', async () => {
    const token = await stack.token('odd-ids');
    for (const offered of ['x'.repeat(129), 'two words', '<script>']) {
      const response = await submitAs(token, offered);
      expect(response.status).toBe(202);
      expect(response.headers.get('x-client-request-id')).toBeNull();
      const { id } = (await response.json()) as { id: string };
      const [submitted] = await stack.store.readStream(`job-${id}`);
      expect(submitted?.metadata.clientRequestId).toBeUndefined();
      expect(submitted?.metadata.requestId).toBe(response.headers.get('x-request-id'));
    }
  });
});

describe('unauthenticated floods', () => {
  let redis: Redis;
  const apps: ServedApp[] = [];
  beforeAll(() => {
    redis = new Redis('redis://127.0.0.1:6379');
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    redis?.disconnect();
  });

  /** An API limited as in production: 20 refused requests per address and minute. */
  async function serveLimited(trustProxy = 0) {
    const app = createApp({
      store: stack.store,
      db: stack.database.db,
      policy: testPolicy,
      verifyToken: testTokenVerifier,
      logger: pino({ level: 'silent' }),
      trustProxy,
      rateLimit: {
        redis,
        keyPrefix: `test-${randomUUID()}`,
        windowSeconds: 60,
        perSubject: 1_000,
        perTenant: 1_000,
        perAddressUnauthenticated: 20,
      },
    });
    const server = await serveApp(app, { port: 0, host: '127.0.0.1' });
    apps.push(server);
    return server;
  }

  const badToken = async () => `${(await stack.token()).slice(0, -4)}AAAA`;

  it('answers 429 with Retry-After once an address spent its budget of refusals, yet lets a valid token from it in', async () => {
    const server = await serveLimited();
    const bad = { authorization: `Bearer ${await badToken()}` };
    const statuses = new Map<number, number>();
    let refused: Response | undefined;
    for (let i = 0; i < 300; i++) {
      // Some carry a bad token, some none: both spend the same budget.
      const response = await fetch(`${server.url}/v1/jobs`, i % 3 === 0 ? {} : { headers: bad });
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      if (response.status === 429) refused ??= response;
      else await response.arrayBuffer();
    }
    expect(Object.fromEntries(statuses)).toEqual({ 401: 20, 429: 280 });
    expect(refused?.headers.get('content-type')).toBe('application/problem+json');
    expect(Number(refused?.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused?.headers.get('www-authenticate')).toBeNull();
    expect(await refused?.json()).toMatchObject({ status: 429, code: 'rate-limited' });

    const good = await fetch(`${server.url}/v1/jobs`, {
      headers: { authorization: `Bearer ${await stack.token('honest')}` },
    });
    expect(good.status).toBe(200);
    // Health checks are never limited.
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });

  it('believes X-Forwarded-For only with TRUST_PROXY: without it a flood cannot dodge its budget by rotating the header', async () => {
    const flood = async (server: ServedApp) => {
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++) {
        const response = await fetch(`${server.url}/v1/jobs`, {
          headers: { 'x-forwarded-for': `203.0.113.${i}` },
        });
        await response.arrayBuffer();
        statuses.push(response.status);
      }
      return statuses;
    };
    expect((await flood(await serveLimited(0))).filter((status) => status === 429)).toHaveLength(10);
    // Behind one trusted proxy, each forwarded address is its own client with its own budget.
    expect(await flood(await serveLimited(1))).toEqual(Array(30).fill(401));
  });
});

describe('client-aborted bodies', () => {
  it('logs a body the client abandoned as such, without a stack, and answers no 500', async () => {
    const lines: string[] = [];
    const statuses: number[] = [];
    const app = createApp({
      store: stack.store,
      db: stack.database.db,
      files: stack.files,
      policy: testPolicy,
      verifyToken: testTokenVerifier,
      logger: pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) }),
    });
    const server = await serveApp(
      {
        fetch: async (request: Request, env: unknown) => {
          const response = await app.fetch(request, env as never);
          statuses.push(response.status);
          return response;
        },
      },
      { port: 0, host: '127.0.0.1' },
    );
    try {
      const token = await stack.token('hasty');
      // An upload (read by the route itself) and a job (read by the JSON validator), both cut short.
      for (const [path, contentType, partial] of [
        ['/v1/files?name=big.bin', 'application/octet-stream', 'x'.repeat(512)],
        ['/v1/jobs', 'application/json', '{"image":"omni-busy'],
      ] as const) {
        const socket = connect(server.port, '127.0.0.1');
        await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
        socket.write(
          [
            `POST ${path} HTTP/1.1`,
            'Host: 127.0.0.1',
            `Authorization: Bearer ${token}`,
            `Content-Type: ${contentType}`,
            'Content-Length: 100000',
            '',
            partial,
          ].join('\r\n'),
        );
        await new Promise((resolve) => setTimeout(resolve, 200));
        socket.destroy();
      }
      const parsed = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      const aborted = await eventually(
        async () =>
          parsed().filter((line) => line.msg === 'client closed the connection before the body was read'),
        (found) => found.length === 2,
        5_000,
      );
      expect(aborted.map((line) => line.path)).toEqual(['/v1/files', '/v1/jobs']);
      for (const line of aborted) {
        expect(line.level).toBeLessThanOrEqual(40);
        expect(line.err).toBeUndefined();
        expect(JSON.stringify(line)).not.toContain('    at ');
      }
      expect(parsed().filter((line) => line.msg === 'unhandled error')).toEqual([]);
      expect(statuses).toHaveLength(2);
      expect(statuses.filter((status) => status >= 500)).toEqual([]);
    } finally {
      await server.close();
    }
  });
});
