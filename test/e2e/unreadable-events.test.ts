import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replayProjection } from '../../events/projections/replay.ts';
import { jobsProjection } from '../../jobs/jobs.projection.ts';
import { createLogger } from '../../services/logger.ts';
import { startTelemetry, type Telemetry } from '../../services/telemetry/telemetry.ts';
import { reconcileOnce } from '../../workers/lifecycle/reconciler.ts';
import { createWorkerLeases } from '../../workers/lifecycle/worker-leases.ts';
import { eventually } from '../support/eventually.ts';
import { testImage } from '../support/test-image.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

let telemetry: Telemetry;
let stack: TestStack;
let headers: Record<string, string>;

beforeAll(async () => {
  // Before the stack, so the unreadable-events counter binds to this provider.
  telemetry = startTelemetry({ serviceName: 'omni-test' });
  stack = await startTestStack('unreadable_events');
  headers = {
    authorization: `Bearer ${await stack.token('poison-user', { scopes: ['admin'] })}`,
    'content-type': 'application/json',
  };
});
afterAll(async () => {
  const leftovers = await stack?.leftoverContainers();
  await stack?.stop();
  await telemetry?.shutdown();
  expect(leftovers).toEqual([]);
});

/**
 * What the API stored before it bounded runAt: `new Date('9999-12-31T23:59:59-14:00').toISOString()`,
 * an extended year its read schema refuses and Postgres cannot cast. Written by hand, as a superuser,
 * straight through `append_events`: nothing in Node checks it.
 */
async function writePoison(jobId: string): Promise<number> {
  const events = [
    {
      event_id: randomUUID(),
      type: 'JobSubmitted',
      schema_version: 1,
      data: {
        spec: {
          image: testImage,
          command: ['true'],
          env: {},
          timeoutMs: 1000,
          limits: { memoryBytes: 64 * 1024 * 1024, cpus: 1, pids: 64 },
        },
        runAt: '+010000-01-01T13:59:59.000Z',
      },
      metadata: { tenant: 'hostile', actor: 'hostile' },
    },
  ];
  const { rows } = await sql<{ global_position: string }>`
    select global_position from append_events(${`job-${jobId}`}, 0, ${JSON.stringify(events)}::jsonb)
  `.execute(stack.database.db);
  return Number(rows[0]?.global_position);
}

const view = async (id: string) => {
  const response = await stack.app.request(`/v1/jobs/${id}`, { headers });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

describe('a poison event written straight into the log', () => {
  it('is stepped over and reported by the dispatcher and the jobs projection; later jobs still run', async () => {
    const poisonId = randomUUID();
    const position = await writePoison(poisonId);

    const submitted = await stack.app.request('/v1/jobs', {
      method: 'POST',
      headers,
      body: JSON.stringify({ image: testImage, command: ['echo', 'after the poison'] }),
    });
    expect(submitted.status).toBe(202);
    const { id } = (await submitted.json()) as { id: string };
    const done = await eventually(
      () => view(id),
      (job) => job.body.status === 'succeeded',
      30_000,
    );
    expect(done.body).toMatchObject({ status: 'succeeded', stdout: 'after the poison\n' });
    const listed = await eventually(
      async () =>
        (
          (await (await stack.app.request('/v1/jobs', { headers })).json()) as {
            jobs: { id: string; status: string }[];
          }
        ).jobs,
      (jobs) => jobs.some((job) => job.id === id && job.status === 'succeeded'),
    );
    expect(listed.find((job) => job.id === id)?.status).toBe('succeeded');
    expect(listed.some((job) => job.id === poisonId)).toBe(false);

    // Each reader recorded it once, for an operator to find.
    const recorded = await eventually(
      async () =>
        (
          await sql<{ reader: string; global_position: string; stream_id: string; event_type: string }>`
            select reader, global_position, stream_id, event_type from unreadable_events order by reader
          `.execute(stack.database.db)
        ).rows,
      (rows) => rows.length >= 2,
    );
    expect(recorded.map((row) => ({ ...row, global_position: Number(row.global_position) }))).toEqual([
      {
        reader: 'dispatcher',
        global_position: position,
        stream_id: `job-${poisonId}`,
        event_type: 'JobSubmitted',
      },
      {
        reader: 'projection:jobs',
        global_position: position,
        stream_id: `job-${poisonId}`,
        event_type: 'JobSubmitted',
      },
    ]);
    // One alert line each, naming the stream and position.
    const alerts = stack
      .logs()
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.alert === 'event-unreadable');
    expect(alerts.map((line) => line.reader).sort()).toEqual(['dispatcher', 'projection:jobs']);
    for (const alert of alerts) {
      expect(alert).toMatchObject({ level: 50, streamId: `job-${poisonId}`, globalPosition: position });
      expect(String(alert.msg)).toContain(`position ${position}`);
    }
    const metrics = await telemetry.prometheusText();
    expect(metrics).toMatch(/omni_events_unreadable_total\{[^}]*reader="dispatcher"[^}]*\} 1/);
    expect(metrics).toMatch(/omni_events_unreadable_total\{[^}]*reader="projection:jobs"[^}]*\} 1/);
  });

  it('answers GET and cancel of the poisoned job with a problem naming the event, and the log feed still reads', async () => {
    const poisonId = randomUUID();
    const position = await writePoison(poisonId);
    for (const response of [
      await stack.app.request(`/v1/jobs/${poisonId}`, { headers }),
      await stack.app.request(`/v1/jobs/${poisonId}/cancel`, { method: 'POST', headers }),
    ]) {
      expect(response.status).toBe(500);
      const problem = (await response.json()) as { code: string; detail: string };
      expect(problem.code).toBe('job-history-unreadable');
      expect(problem.detail).toContain(`position ${position}`);
    }
    const page = await eventually(
      async () =>
        (await (await stack.app.request('/v1/events?limit=1000', { headers })).json()) as {
          events: { position: number }[];
        },
      (body) => body.events.some((event) => event.position === position),
    );
    expect(page.events.some((event) => event.position === position)).toBe(true);
  });

  it('is stepped over by a replay too, which rebuilds every other row', async () => {
    const before = (await sql<{ n: string }>`select count(*) as n from jobs`.execute(stack.database.db))
      .rows[0]?.n;
    const result = await replayProjection(stack.database.db, jobsProjection);
    expect(result.events).toBeGreaterThan(0);
    const after = (await sql<{ n: string }>`select count(*) as n from jobs`.execute(stack.database.db))
      .rows[0]?.n;
    expect(after).toBe(before);
  });

  it('does not stop the reconciler: the other jobs are still re-derived', async () => {
    const poisonId = randomUUID();
    const position = await writePoison(poisonId);
    const submitted = await stack.app.request('/v1/jobs', {
      method: 'POST',
      headers,
      body: JSON.stringify({ image: testImage, command: ['true'], delayMs: 3600_000 }),
    });
    const { id } = (await submitted.json()) as { id: string };
    const message = await eventually(
      () => stack.queue.getJob(`${id}-1`),
      (job) => job !== undefined,
    );
    // Redis lost the message: only the reconciler brings it back.
    await message?.remove();
    const report = await reconcileOnce({
      db: stack.database.db,
      store: stack.store,
      queue: stack.queue,
      leases: createWorkerLeases(stack.database.db),
      logger: createLogger('silent'),
    });
    expect(report.requeued).toBeGreaterThanOrEqual(1);
    expect(await stack.queue.getJob(`${id}-1`)).toBeDefined();
    const { rows } = await sql<{ n: string }>`
      select count(*) as n from unreadable_events where reader = 'reconciler' and global_position = ${position}
    `.execute(stack.database.db);
    expect(Number(rows[0]?.n)).toBe(1);
  });
});
