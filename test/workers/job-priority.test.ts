import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logStart } from '../../events/event-store.ts';
import { eventually } from '../support/eventually.ts';
import { testImage } from '../support/test-image.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

let stack: TestStack;
let auth: Record<string, string>;

beforeAll(async () => {
  // One slot: every job queued behind the blocker competes for it, so the start order is the queue's.
  stack = await startTestStack('priority', { workerConcurrency: 1 });
  auth = {
    authorization: `Bearer ${await stack.token('alice', { tenant: 'acme' })}`,
    'content-type': 'application/json',
  };
});
afterAll(async () => {
  const leftovers = await stack?.leftoverContainers();
  await stack?.stop();
  expect(leftovers).toEqual([]);
});

async function submit(body: Record<string, unknown>): Promise<string> {
  const response = await stack.app.request('/v1/jobs', {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ image: testImage, ...body }),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}
const statusOf = async (id: string) =>
  ((await (await stack.app.request(`/v1/jobs/${id}`, { headers: auth })).json()) as { status: string })
    .status;

describe('priority', () => {
  it('runs queued jobs highest priority first, first come first served within one, a due delayed job included', async () => {
    const blocker = await submit({ command: ['sleep', '30'] });
    await eventually(
      () => statusOf(blocker),
      (status) => status === 'running',
    );

    // Submitted in an order that is neither the priority order nor its reverse.
    const low = await submit({ command: ['true'], priority: 10 });
    const high = await submit({ command: ['true'], priority: 90 });
    const medium = await submit({ command: ['true'] }); // the default, 50
    const urgentButDelayed = await submit({ command: ['true'], priority: 100, delayMs: 300 });
    const zero = await submit({ command: ['true'], priority: 0 });
    const secondHigh = await submit({ command: ['true'], priority: 90 });
    const queued = [low, high, medium, urgentButDelayed, zero, secondHigh];

    // Every message is in Redis and the delayed one is due before the slot frees.
    const counts = await eventually(
      () => stack.queue.getJobCounts('prioritized', 'waiting', 'delayed'),
      (c) => (c.prioritized ?? 0) + (c.waiting ?? 0) + (c.delayed ?? 0) === queued.length,
    );
    expect((counts.prioritized ?? 0) + (counts.waiting ?? 0) + (counts.delayed ?? 0)).toBe(queued.length);
    await new Promise((resolve) => setTimeout(resolve, 500));

    const cancelled = await stack.app.request(`/v1/jobs/${blocker}/cancel`, {
      method: 'POST',
      headers: auth,
    });
    expect(cancelled.status).toBe(200);
    for (const id of queued)
      await eventually(
        () => statusOf(id),
        (status) => status === 'succeeded',
        30_000,
      );

    const started = await eventually(
      () => stack.store.readAll(logStart, { limit: 100, types: ['JobStarted'] }),
      (events) => events.length === queued.length + 1,
    );
    const order = started.map((event) => event.streamId.slice('job-'.length));
    const names = new Map([
      [blocker, 'blocker'],
      [low, 'low 10'],
      [high, 'high 90'],
      [medium, 'medium 50'],
      [urgentButDelayed, 'delayed 100'],
      [zero, 'zero 0'],
      [secondHigh, 'second high 90'],
    ]);
    expect(order.map((id) => names.get(id))).toEqual([
      'blocker',
      'delayed 100',
      'high 90',
      'second high 90',
      'medium 50',
      'low 10',
      'zero 0',
    ]);
  }, 60_000);
});
