import { randomUUID } from 'node:crypto';
import type { Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExecutorWorker } from '../../workers/executor-worker.ts';
import { createJobQueue, type RunJobMessage } from '../../workers/job-queue.ts';
import { attemptMessage } from '../../workers/lifecycle/attempt-message.ts';
import { createRunSlots } from '../../workers/lifecycle/run-slots.ts';
import { eventually } from '../support/eventually.ts';

// The worker's run slots against a real Redis: at most N attempts read, start and run at once, a
// finished run's recording overlaps the next run, and no message waits in hand for a slot.
let redis: Redis;
const queues: Queue<RunJobMessage>[] = [];

beforeAll(() => {
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
});
afterAll(async () => {
  for (const queue of queues) {
    await queue.obliterate({ force: true });
    await queue.close();
  }
  redis.disconnect();
});

function newQueue(): { queue: Queue<RunJobMessage>; prefix: string } {
  const prefix = `test-run-slots-${randomUUID()}`;
  const queue = createJobQueue({ connection: redis, prefix });
  queues.push(queue);
  return { queue, prefix };
}

const add = (queue: Queue<RunJobMessage>, count: number, priority?: number) =>
  queue.addBulk(
    Array.from({ length: count }, () =>
      attemptMessage(
        { jobId: randomUUID(), attempt: 1, tenant: 't', ...(priority === undefined ? {} : { priority }) },
        Date.now(),
      ),
    ),
  );

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('run slots', () => {
  it('counts runs, not messages: recording overlaps the next run, and every message is processed once', async () => {
    const { queue, prefix } = newQueue();
    let running = 0;
    let inHand = 0;
    let mostRunning = 0;
    let mostInHand = 0;
    const seen: string[] = [];
    const worker = startExecutorWorker({
      connection: redis.duplicate(),
      prefix,
      concurrency: 2,
      process: async (job: Job<RunJobMessage>, _token, runEnded) => {
        inHand += 1;
        running += 1;
        mostInHand = Math.max(mostInHand, inHand);
        mostRunning = Math.max(mostRunning, running);
        seen.push(job.data.jobId);
        await sleep(20); // the run
        running -= 1;
        runEnded?.();
        await sleep(60); // recording its result: no slot, yet the message is still in hand
        inHand -= 1;
        return 'ran';
      },
    });
    await add(queue, 24);
    await eventually(
      () => queue.getJobCounts('completed'),
      (counts) => counts.completed === 24,
      20_000,
    );
    await worker.close();
    expect(new Set(seen).size).toBe(24);
    expect(seen).toHaveLength(24);
    expect(mostRunning).toBe(2);
    // More than the two slots were in hand at once: the next runs started while results recorded.
    expect(mostInHand).toBeGreaterThan(2);
    expect(mostInHand).toBeLessThanOrEqual(4);
  });

  it('fetches no message while every slot runs: none waits in hand behind a long run', async () => {
    const { queue, prefix } = newQueue();
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started = 0;
    const worker = startExecutorWorker({
      connection: redis.duplicate(),
      prefix,
      concurrency: 2,
      process: async () => {
        started += 1;
        await held;
        return 'ran';
      },
    });
    await add(queue, 6);
    await eventually(
      () => Promise.resolve(started),
      (count) => count === 2,
    );
    // Long enough for a fetch loop that ignored the slots to take the rest.
    await sleep(500);
    expect(await queue.getActiveCount()).toBe(2);
    // Every message carries a priority, so the ones not fetched wait as prioritized.
    expect(await queue.getJobCounts('waiting', 'prioritized')).toEqual({ waiting: 0, prioritized: 4 });
    release();
    await eventually(
      () => queue.getJobCounts('completed'),
      (counts) => counts.completed === 6,
    );
    await worker.close();
  });

  it('keeps the priority order: a message queued while the slot runs is not taken ahead of a higher one', async () => {
    const { queue, prefix } = newQueue();
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const order: string[] = [];
    const names = new Map<string, string>();
    const worker = startExecutorWorker({
      connection: redis.duplicate(),
      prefix,
      concurrency: 1,
      process: async (job: Job<RunJobMessage>, _token, runEnded) => {
        order.push(names.get(job.data.jobId) ?? '?');
        if (order.length === 1) await held;
        runEnded?.();
        await sleep(30);
        return 'ran';
      },
    });
    const [blocker] = await add(queue, 1);
    names.set(blocker?.data.jobId ?? '', 'blocker');
    await eventually(
      () => Promise.resolve(order.length),
      (count) => count === 1,
    );
    const [low] = await add(queue, 1, 10);
    names.set(low?.data.jobId ?? '', 'low');
    await sleep(200);
    const [high] = await add(queue, 1, 90);
    names.set(high?.data.jobId ?? '', 'high');
    await sleep(200);
    release();
    await eventually(
      () => queue.getJobCounts('completed'),
      (counts) => counts.completed === 3,
    );
    await worker.close();
    expect(order).toEqual(['blocker', 'high', 'low']);
  });

  it('closes while every slot runs, leaving the unfetched messages waiting', async () => {
    const { queue, prefix } = newQueue();
    let started = 0;
    const worker = startExecutorWorker({
      connection: redis.duplicate(),
      prefix,
      concurrency: 1,
      process: async () => {
        started += 1;
        await sleep(300);
        return 'ran';
      },
    });
    await add(queue, 3);
    await eventually(
      () => Promise.resolve(started),
      (count) => count === 1,
    );
    await worker.close();
    expect(started).toBe(1);
    expect(await queue.getJobCounts('completed', 'active', 'prioritized')).toEqual({
      completed: 1,
      active: 0,
      prioritized: 2,
    });
  });
});

describe('createRunSlots', () => {
  it('gives at most its size, takes a release once, and wakes a waiter on release', async () => {
    const slots = createRunSlots(2);
    const first = slots.tryTake();
    const second = slots.tryTake();
    expect(slots.tryTake()).toBeUndefined();
    const woken = slots.released();
    first?.release();
    first?.release();
    await woken;
    expect(slots.taken()).toBe(1);
    expect(slots.tryTake()).toBeDefined();
    expect(slots.tryTake()).toBeUndefined();
    second?.release();
    expect(slots.taken()).toBe(1);
    expect(() => createRunSlots(0)).toThrow(RangeError);
  });
});
