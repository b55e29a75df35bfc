import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobStreamId } from '../../jobs/job-stream.ts';
import { eventually } from '../support/eventually.ts';
import { ensureTestImage, testImage } from '../support/test-image.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

// What the dispatcher puts on an attempt's message besides its references: the version the attempt
// was queued at and what a worker needs to start it there without reading the stream first.
let stack: TestStack;
let headers: Record<string, string>;

beforeAll(async () => {
  await ensureTestImage();
  stack = await startTestStack('dispatched_messages');
  headers = {
    authorization: `Bearer ${await stack.token('dispatch-user')}`,
    'content-type': 'application/json',
  };
}, 120_000);
afterAll(async () => {
  const leftovers = await stack?.leftoverContainers();
  await stack?.stop();
  expect(leftovers).toEqual([]);
});

async function submit(body: Record<string, unknown>): Promise<string> {
  const response = await stack.app.request('/v1/jobs', {
    method: 'POST',
    headers,
    body: JSON.stringify({ image: testImage, ...body }),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

const messageOf = (jobId: string, attempt: number) =>
  eventually(
    () => stack.queue.getJob(`${jobId}-${attempt}`),
    (message) => message !== undefined,
  );

describe('an attempt message', () => {
  it('of a first attempt carries the version of JobSubmitted, the image, its event id and its times', async () => {
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    const id = await submit({ command: ['true'], delayMs: 60_000, expiresAt });
    const message = await messageOf(id, 1);
    const [submitted] = await stack.store.readStream(jobStreamId(id));
    expect(submitted?.type).toBe('JobSubmitted');
    const runAt = (submitted?.data as { runAt: string } | undefined)?.runAt ?? '';
    expect(message?.data.queued).toEqual({
      version: 1,
      image: testImage,
      causationId: submitted?.eventId,
      dueAtMs: Date.parse(runAt),
      expiresAtMs: Date.parse(expiresAt),
    });
  });

  it('of a retry carries the version of its JobRetryScheduled and the JobSubmitted it follows from', async () => {
    const id = await submit({
      command: ['false'],
      retry: { maxAttempts: 2, on: ['exit-code'], backoff: { initialMs: 60_000 } },
    });
    const message = await messageOf(id, 2);
    const history = await stack.store.readStream(jobStreamId(id));
    const retry = history.find((event) => event.type === 'JobRetryScheduled');
    expect(retry).toBeDefined();
    expect(message?.data.queued).toEqual({
      version: retry?.streamVersion,
      image: testImage,
      causationId: history[0]?.eventId,
      dueAtMs: Date.parse((retry?.data as { dueAt: string } | undefined)?.dueAt ?? ''),
    });
    expect(history.at(-1)?.streamVersion).toBe(retry?.streamVersion);
  });
});
