import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.ts';
import { testImage } from '../support/test-image.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

// No workers: submitted jobs wait in the queue, where a cancel always applies.
let stack: TestStack;
const tenant = 'bulk';
let operator: Record<string, string>;

beforeAll(async () => {
  stack = await startTestStack('job-bulk', { withWorkers: false });
  operator = {
    authorization: `Bearer ${await stack.token('ops-olga', { tenant })}`,
    'content-type': 'application/json',
  };
});
afterAll(() => stack?.stop());

async function submit(asTenant: string, image = testImage): Promise<string> {
  const token = await stack.token('submitter', { tenant: asTenant });
  const response = await stack.app.request('/v1/jobs', {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ image, command: ['true'] }),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

const bulk = async (action: 'cancel' | 'retry', body: unknown, headers = operator) => {
  const response = await stack.app.request(`/v1/jobs/bulk-${action}`, {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

const eventsOf = async (id: string) =>
  (
    (await (await stack.app.request(`/v1/jobs/${id}/events`, { headers: operator })).json()) as {
      events: { type: string; metadata: Record<string, unknown> }[];
    }
  ).events;

describe('bulk actions by list filter', () => {
  let ours: string[];
  let theirs: string;
  beforeAll(async () => {
    ours = [await submit(tenant), await submit(tenant), await submit(tenant)];
    theirs = await submit('other-tenant');
    const counted = async () =>
      (
        (await (await stack.app.request('/v1/jobs/counts', { headers: operator })).json()) as {
          total: number;
        }
      ).total;
    await eventually(counted, (total) => total === 3);
  });

  it("counts first (dryRun), refuses more than maxJobs, then cancels each of the tenant's matching jobs as one operation", async () => {
    const filter = { status: ['queued'], image: testImage };
    const dry = await bulk('cancel', { filter, dryRun: true });
    expect(dry).toMatchObject({ status: 200, body: { dryRun: true, matched: 3, results: [] } });
    const tooMany = await bulk('cancel', { filter, maxJobs: 2 });
    expect(tooMany).toMatchObject({ status: 400, body: { code: 'bulk-too-many' } });
    expect((await eventsOf(ours[0] as string)).map((event) => event.type)).toEqual(['JobSubmitted']);

    const done = await bulk('cancel', { filter, reason: 'bad image', maxJobs: 3 });
    expect(done.status).toBe(200);
    const { operationId, results, summary } = done.body as {
      operationId: string;
      results: { id: string; outcome: string; status: string }[];
      summary: Record<string, number>;
    };
    expect(results.map((result) => result.id).sort()).toEqual([...ours].sort());
    expect(results.every((result) => result.outcome === 'changed' && result.status === 'cancelled')).toBe(
      true,
    );
    expect(summary).toEqual({ changed: 3, unchanged: 0, refused: 0, missing: 0 });
    for (const id of ours) {
      const cancelled = (await eventsOf(id)).find((event) => event.type === 'JobCancelled');
      expect(cancelled?.metadata).toMatchObject({ actor: 'ops-olga', operationId, operation: 'bulk-cancel' });
    }
    // Another tenant's job matched the filter too, but is not the operator's to touch.
    const admin = { authorization: `Bearer ${await stack.token('root', { scopes: ['admin'] })}` };
    const other = (await (await stack.app.request(`/v1/jobs/${theirs}`, { headers: admin })).json()) as {
      status: string;
    };
    expect(other.status).toBe('queued');
  });

  it('answers each job: a second cancel changes nothing, a retry re-queues them', async () => {
    await eventually(
      async () =>
        (await (await stack.app.request('/v1/jobs/counts', { headers: operator })).json()) as {
          counts: { cancelled: number };
        },
      (body) => body.counts.cancelled === 3,
    );
    const again = await bulk('cancel', { filter: { status: ['cancelled'] } });
    expect((again.body as { summary: unknown }).summary).toEqual({
      changed: 0,
      unchanged: 3,
      refused: 0,
      missing: 0,
    });
    const retried = await bulk('retry', { filter: { status: ['cancelled'] } });
    expect((retried.body as { summary: unknown }).summary).toMatchObject({ changed: 3 });
    const retry = (await eventsOf(ours[1] as string)).find((event) => event.type === 'JobRetryScheduled');
    expect(retry?.metadata).toMatchObject({
      actor: 'ops-olga',
      operationId: (retried.body as { operationId: string }).operationId,
    });
  });

  it('needs jobs:cancel (or jobs:submit to retry) and a filter the list would accept', async () => {
    const reader = {
      authorization: `Bearer ${await stack.token('reader', { tenant, scopes: ['jobs:read'] })}`,
      'content-type': 'application/json',
    };
    expect(await bulk('cancel', { filter: {} }, reader)).toMatchObject({
      status: 403,
      body: { code: 'insufficient-scope' },
    });
    expect(await bulk('retry', { filter: {} }, reader)).toMatchObject({ status: 403 });
    expect(await bulk('cancel', { filter: { status: ['sleeping'] } })).toMatchObject({
      status: 400,
      body: { code: 'validation-failed' },
    });
    expect(await bulk('cancel', { filter: { label: ['no-equals-sign'] } })).toMatchObject({ status: 400 });
  });
});
