import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../events/event-store.ts';
import { jobsProjection } from '../../jobs/jobs.projection.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

// The jobs projection writes rows column-wise (one typed array per column); what a worker reported
// must reach the table byte for byte, whatever characters it holds.

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('jobs_projection_write');
});
afterAll(() => database?.destroy());

let position = 0;
const recorded = (
  jobId: string,
  version: number,
  type: string,
  data: unknown,
  metadata = {},
): RecordedEvent => {
  position += 1;
  return {
    globalPosition: position,
    transactionId: '1',
    streamId: `job-${jobId}`,
    streamVersion: version,
    eventId: randomUUID(),
    type,
    schemaVersion: 1,
    data,
    metadata,
    recordedAt: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)),
  };
};

describe('jobs projection rows', () => {
  it('keep text with quotes, backslashes, braces, commas and the word NULL exactly, and nulls as nulls', async () => {
    const awkward = 'exit "1", path C:\\tmp\\{x}, NULL, ünïcode ✓';
    const jobId = randomUUID();
    const other = randomUUID();
    await jobsProjection.apply(database.db, 'jobs', [
      recorded(jobId, 1, 'JobSubmitted', { spec: { image: 'img:"1"', priority: 7 } }, { actor: 'NULL' }),
      recorded(other, 1, 'JobSubmitted', { spec: { image: 'plain' } }),
      recorded(jobId, 2, 'JobStarted', { attempt: 1, workerId: 'w{1}' }),
    ]);
    // A later batch folds onto the stored row.
    await jobsProjection.apply(database.db, 'jobs', [
      recorded(jobId, 3, 'JobFailed', {
        attempt: 1,
        exitCode: 1,
        durationMs: 12.5,
        reason: 'exit-code',
        message: awkward,
      }),
    ]);
    const { rows } = await sql<Record<string, unknown>>`
      select id, image, submitted_by, worker_id, failure_message, priority, duration_ms, exit_code, status, version,
             finished_at, cancelled_by
      from jobs where id in (${jobId}, ${other}) order by version desc
    `.execute(database.db);
    expect(rows).toEqual([
      {
        id: jobId,
        image: 'img:"1"',
        submitted_by: 'NULL',
        worker_id: 'w{1}',
        failure_message: awkward,
        priority: 7,
        duration_ms: 12.5,
        exit_code: 1,
        status: 'failed',
        version: 3,
        finished_at: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)),
        cancelled_by: null,
      },
      {
        id: other,
        image: 'plain',
        submitted_by: null,
        worker_id: null,
        failure_message: null,
        priority: null,
        duration_ms: null,
        exit_code: null,
        status: 'queued',
        version: 1,
        finished_at: null,
        cancelled_by: null,
      },
    ]);
  });
});
