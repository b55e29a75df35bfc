import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type ServedApp, serveApp } from '../../services/api/serve.ts';
import { testImage } from '../support/test-image.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

let stack: TestStack;
let server: ServedApp;
let auth: Record<string, string>;
let admin: Record<string, string>;

beforeAll(async () => {
  stack = await startTestStack('feeds');
  server = await serveApp(stack.app, { port: 0, host: '127.0.0.1' });
  auth = { authorization: `Bearer ${await stack.token('watcher')}` };
  admin = { authorization: `Bearer ${await stack.token('operator', { scopes: ['admin'] })}` };
});
afterAll(async () => {
  await server?.close();
  await stack?.stop();
});

async function submit(command: string[]): Promise<string> {
  const response = await stack.app.request('/v1/jobs', {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ image: testImage, command }),
  });
  return ((await response.json()) as { id: string }).id;
}

async function storedVersions(id: string) {
  return (await stack.store.readStream(`job-${id}`)).map((event) => `${event.streamVersion}:${event.type}`);
}

/** Reads an SSE response until `stop` says so or the stream ends. */
async function readSse(
  response: Response,
  stop: (events: Array<{ event: string; data: string }>) => boolean = () => false,
) {
  const events: Array<{ event: string; data: string }> = [];
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let boundary = buffer.indexOf('\n\n');
    while (boundary !== -1) {
      const block = buffer.slice(0, boundary);
      buffer = buffer.slice(boundary + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data) events.push({ event, data });
      boundary = buffer.indexOf('\n\n');
    }
    if (stop(events)) {
      await reader.cancel();
      break;
    }
  }
  return events;
}

describe('live feeds', () => {
  it('WebSocket /v1/jobs/:id/watch sends history then live events, each once, and closes when the job ends', async () => {
    const id = await submit(['sh', '-c', 'echo a; sleep 1; echo b']);
    // Connect while the job is queued or running: some events are history, the rest arrive live.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const received: Array<{ event: string; streamVersion: number }> = [];
    const closeCode = await new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(`${server.url.replace('http', 'ws')}/v1/jobs/${id}/watch`, {
        headers: auth,
      });
      socket.on('message', (data) => received.push(JSON.parse(String(data))));
      socket.on('close', (code) => resolve(code));
      socket.on('error', reject);
    });
    expect(closeCode).toBe(1000);
    expect(received.map((event) => `${event.streamVersion}:${event.event}`)).toEqual(
      await storedVersions(id),
    );
    expect(received.at(-1)?.event).toBe('JobSucceeded');
  });

  it('Server-Sent Events on the same path give the same sequence, and resume after a version', async () => {
    const id = await submit(['sh', '-c', 'echo sse; sleep 0.5']);
    const response = await fetch(`${server.url}/v1/jobs/${id}/watch`, {
      headers: { ...auth, accept: 'text/event-stream' },
    });
    expect(response.headers.get('content-type')).toMatch(/text\/event-stream/);
    const events = (await readSse(response)).filter((event) => event.event !== 'end');
    const stored = await storedVersions(id);
    expect(events.map((event) => `${JSON.parse(event.data).streamVersion}:${event.event}`)).toEqual(stored);

    const resumed = await readSse(
      await fetch(`${server.url}/v1/jobs/${id}/watch?afterVersion=1`, { headers: auth }),
    );
    expect(resumed.filter((event) => event.event !== 'end').map((event) => event.event)).toEqual(
      stored.slice(1).map((entry) => entry.split(':')[1]),
    );
    // A reconnecting EventSource sends Last-Event-ID on the URL it first opened: it resumes there.
    const reconnected = await readSse(
      await fetch(`${server.url}/v1/jobs/${id}/watch`, { headers: { ...auth, 'last-event-id': '2' } }),
    );
    expect(reconnected.filter((event) => event.event !== 'end').map((event) => event.event)).toEqual(
      stored.slice(2).map((entry) => entry.split(':')[1]),
    );
  });

  it("refuses to watch another tenant's job (404)", async () => {
    const id = await submit(['true']);
    const stranger = { authorization: `Bearer ${await stack.token('stranger', { tenant: 'elsewhere' })}` };
    expect((await fetch(`${server.url}/v1/jobs/${id}/watch`, { headers: stranger })).status).toBe(404);
  });

  it('the operator feed /v1/events/watch streams the global log live, filtered by type', async () => {
    const controller = new AbortController();
    const response = await fetch(`${server.url}/v1/events/watch?type=JobSubmitted`, {
      headers: admin,
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    const submitted = [await submit(['true']), await submit(['true'])];
    const events = await readSse(response, (seen) =>
      submitted.every((id) => seen.some((event) => JSON.parse(event.data).data && event.data.includes(id))),
    );
    controller.abort();
    expect(events.every((event) => event.event === 'JobSubmitted')).toBe(true);
    const cursors = events.map((event) => JSON.parse(event.data).cursor as string);
    expect(new Set(cursors).size).toBe(cursors.length);
  });

  it('is for admins only', async () => {
    expect((await stack.app.request('/v1/events', { headers: auth })).status).toBe(403);
  });
});

describe('inspection', () => {
  it('pages through the whole log with cursors, each event once, and filters by type and stream', async () => {
    await submit(['true']);
    const all: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 100; page++) {
      const query: string = after ? `?limit=3&after=${after}` : '?limit=3';
      const body = (await (await stack.app.request(`/v1/events${query}`, { headers: admin })).json()) as {
        events: Array<{ eventId: string }>;
        next: string | null;
      };
      if (body.events.length === 0) break;
      all.push(...body.events.map((event) => event.eventId));
      after = body.next;
    }
    const expected = (
      await stack.store.readAll({ transactionId: '0', globalPosition: 0 }, { limit: 100_000 })
    ).map((event) => event.eventId);
    // Workers may append after the last page was read: the pages are a prefix of the log, each event once.
    expect(all.length).toBeGreaterThan(0);
    expect(all).toEqual(expected.slice(0, all.length));
    expect(new Set(all).size).toBe(all.length);

    const started = (await (
      await stack.app.request('/v1/events?type=JobStarted&limit=1000', { headers: admin })
    ).json()) as { events: Array<{ type: string }> };
    expect(started.events.length).toBeGreaterThan(0);
    expect(started.events.every((event) => event.type === 'JobStarted')).toBe(true);

    const bad = await stack.app.request('/v1/events?after=12', { headers: admin });
    expect(bad.status).toBe(400);
  });

  it('shows a job as it was at a position in the log', async () => {
    const id = await submit(['echo', 'then']);
    for (let i = 0; i < 400; i++) {
      const types = (await stack.store.readStream(`job-${id}`)).map((event) => event.type);
      if (types.includes('JobSucceeded')) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const events = await stack.store.readStream(`job-${id}`);
    const submitted = events.find((event) => event.type === 'JobSubmitted')!;
    const started = events.find((event) => event.type === 'JobStarted')!;
    const atSubmit = (await (
      await stack.app.request(`/v1/jobs/${id}/at/${submitted.globalPosition}`, { headers: auth })
    ).json()) as { job: { status: string } };
    const atStart = (await (
      await stack.app.request(`/v1/jobs/${id}/at/${started.globalPosition}`, { headers: auth })
    ).json()) as { job: { status: string } };
    expect(atSubmit.job.status).toBe('queued');
    expect(atStart.job.status).toBe('running');
    expect(
      (await stack.app.request(`/v1/jobs/${id}/at/${submitted.globalPosition - 1}`, { headers: auth }))
        .status,
    ).toBe(404);
  });
});
