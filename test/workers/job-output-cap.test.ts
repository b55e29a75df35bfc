import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore, type EventStore } from '../../events/event-store.ts';
import { attemptCaps } from '../../jobs/attempt-caps.ts';
import { jobStreamId } from '../../jobs/job-stream.ts';
import { createJobOutputAppender } from '../../workers/job-output-appender.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

// Live output against a real store: however the job splits its output, one attempt appends a
// bounded number of JobOutput events, and together they still hold every byte, in order per stream.
let database: TestDatabase;
let store: EventStore;

beforeAll(async () => {
  database = await createTestDatabase('job-output-cap');
  store = createEventStore(database.db);
}, 60_000);
afterAll(async () => {
  await database?.destroy();
});

describe('live output of one attempt', () => {
  it('appends at most the cap of JobOutput events; what comes past it arrives at the end, whole', async () => {
    const jobId = randomUUID();
    const output = createJobOutputAppender({
      store,
      jobId,
      attempt: 1,
      metadata: { actor: 'worker:test' },
      secretValues: ['hunter2secret'],
      logger: pino({ level: 'silent' }),
    });
    // A job switching streams on every line makes one chunk per line: 6,000 of them here.
    const sent = { stdout: '', stderr: '' };
    for (let line = 0; line < 3_000; line += 1) {
      const out = `o${line} hunter2secret\n`;
      const err = `e${line}\n`;
      sent.stdout += out;
      sent.stderr += err;
      output.push({ stream: 'stdout', text: out });
      output.push({ stream: 'stderr', text: err });
    }
    await output.finish();

    const events = await store.readStream(jobStreamId(jobId));
    const chunks = events.map((event) => event.data as { seq: number; stream: string; text: string });
    expect(events.every((event) => event.type === 'JobOutput')).toBe(true);
    expect(chunks.length).toBeLessThanOrEqual(attemptCaps.outputEvents);
    expect(output.stored()).toBe(chunks.length);
    expect(chunks.map((chunk) => chunk.seq)).toEqual(chunks.map((_, index) => index));
    const joined = (stream: string) =>
      chunks
        .filter((chunk) => chunk.stream === stream)
        .map((chunk) => chunk.text)
        .join('');
    expect(joined('stdout')).toBe(sent.stdout.replaceAll('hunter2secret', '[secret]'));
    expect(joined('stderr')).toBe(sent.stderr);
  }, 120_000);
});
