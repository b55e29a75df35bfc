import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testImage } from '../support/test-image.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

let stack: TestStack;
let auth: { authorization: string };

beforeAll(async () => {
  stack = await startTestStack('job_output');
  auth = { authorization: `Bearer ${await stack.token('output-user')}` };
}, 60_000);
afterAll(async () => {
  await stack?.stop();
});

interface Chunk {
  version: number;
  attempt: number;
  seq: number;
  stream: 'stdout' | 'stderr';
  text: string;
}

async function submit(body: Record<string, unknown>): Promise<string> {
  const response = await stack.app.request('/v1/jobs', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth },
    body: JSON.stringify({ image: testImage, ...body }),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

/** Reads an SSE body into events, noting for each whether the job was still running when it arrived. */
async function readEvents(id: string, body: ReadableStream<Uint8Array>) {
  const events: { event: string; data: unknown; jobWasRunning: boolean }[] = [];
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const bytes of body) {
    buffered += decoder.decode(bytes, { stream: true });
    for (let end = buffered.indexOf('\n\n'); end >= 0; end = buffered.indexOf('\n\n')) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const field = (name: string) =>
        block
          .split('\n')
          .find((line) => line.startsWith(`${name}:`))
          ?.slice(name.length + 1)
          .trim();
      const event = field('event');
      if (!event) continue;
      const job = (await (await stack.app.request(`/v1/jobs/${id}`, { headers: auth })).json()) as {
        status: string;
      };
      events.push({
        event,
        data: JSON.parse(field('data') ?? 'null'),
        jobWasRunning: job.status === 'running',
      });
    }
  }
  return events;
}

describe('live output', () => {
  it('follows a running job over SSE: chunks arrive in order while it runs, then an end event', async () => {
    const id = await submit({
      command: ['sh', '-c', 'for i in 1 2 3 4 5; do echo line$i; sleep 0.5; done; echo done >&2'],
    });
    const response = await stack.app.request(`/v1/jobs/${id}/output?follow=1`, { headers: auth });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const events = await readEvents(id, response.body as ReadableStream<Uint8Array>);

    const chunks = events.filter((event) => event.event === 'output').map((event) => event.data as Chunk);
    expect(events.at(-1)).toMatchObject({ event: 'end', data: { status: 'succeeded' } });
    expect(chunks.map((chunk) => chunk.seq)).toEqual(chunks.map((_, index) => index));
    expect(
      chunks
        .filter((chunk) => chunk.stream === 'stdout')
        .map((chunk) => chunk.text)
        .join(''),
    ).toBe('line1\nline2\nline3\nline4\nline5\n');
    expect(
      chunks
        .filter((chunk) => chunk.stream === 'stderr')
        .map((chunk) => chunk.text)
        .join(''),
    ).toBe('done\n');
    // Streamed, not dumped at the end: several chunks, the first seen while the job still ran.
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    expect(events[0]?.jobWasRunning).toBe(true);

    // The same history without follow, once it is over.
    const whole = (await (await stack.app.request(`/v1/jobs/${id}/output`, { headers: auth })).json()) as {
      finished: boolean;
      chunks: Chunk[];
    };
    expect(whole.finished).toBe(true);
    expect(whole.chunks).toEqual(chunks);
  }, 90_000);
});
