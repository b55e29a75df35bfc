import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxBatchJobs } from '../../services/api/job-batch.routes.ts';
import { testImage } from '../support/test-image.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

// No workers: a batch is about what is accepted and written, not about running it.
let stack: TestStack;
let acme: Record<string, string>;
let globex: Record<string, string>;

beforeAll(async () => {
  stack = await startTestStack('job_batch', { withWorkers: false });
  acme = { authorization: `Bearer ${await stack.token('alice', { tenant: 'acme' })}` };
  globex = { authorization: `Bearer ${await stack.token('bob', { tenant: 'globex' })}` };
});
afterAll(() => stack?.stop());

type Result = {
  index: number;
  outcome: 'queued' | 'replayed' | 'refused';
  id: string | null;
  problem?: { status: number; code: string; errors?: { pointer: string; detail: string }[] };
};
type Answer = { results: Result[]; summary: Record<string, number> };

const job = (extra: Record<string, unknown> = {}) => ({
  image: testImage,
  command: ['echo', 'hi'],
  ...extra,
});

async function batch(body: unknown, headers = acme) {
  const response = await stack.app.request('/v1/jobs/batch', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    body: (await response.json()) as Answer & { code?: string; errors?: unknown[] },
  };
}

/** Job streams and their transactions, as the log holds them. */
async function logOf(ids: readonly string[]) {
  const { rows } = await sql<{ streams: number; transactions: number }>`
    select count(distinct stream_id)::int as streams, count(distinct transaction_id)::int as transactions
    from events where stream_id = any(${ids.map((id) => `job-${id}`)}::text[])
  `.execute(stack.database.db);
  return rows[0];
}

describe('POST /v1/jobs/batch', () => {
  it(`accepts ${maxBatchJobs} jobs in one commit, each a job of the caller's tenant`, async () => {
    const { status, body } = await batch({
      jobs: Array.from({ length: maxBatchJobs }, (_, i) => job({ labels: { n: String(i) } })),
    });
    expect(status).toBe(200);
    expect(body.summary).toEqual({ queued: maxBatchJobs, replayed: 0, refused: 0 });
    expect(body.results.map((result) => result.index)).toEqual(
      Array.from({ length: maxBatchJobs }, (_, i) => i),
    );
    const ids = body.results.map((result) => result.id as string);
    expect(new Set(ids).size).toBe(maxBatchJobs);
    expect(await logOf(ids)).toEqual({ streams: maxBatchJobs, transactions: 1 });
    const view = (await (await stack.app.request(`/v1/jobs/${ids[7]}`, { headers: acme })).json()) as {
      labels: Record<string, string>;
    };
    expect(view.labels).toEqual({ n: '7' });
    // Another tenant cannot see them.
    expect((await stack.app.request(`/v1/jobs/${ids[7]}`, { headers: globex })).status).toBe(404);
    const [submitted] = await stack.store.readStream(`job-${ids[0]}`);
    expect(submitted?.metadata).toMatchObject({ actor: 'alice', tenant: 'acme' });
  });

  it('refuses a bad item alone, with pointers under /jobs/<index>, and keeps the rest', async () => {
    const { status, body } = await batch({
      jobs: [
        job(),
        job({ image: 'not-allowed:latest' }),
        'not an object',
        job({ env: { A: 'a\u0000b' } }),
        job({ timeoutMs: -1, idempotencyKey: 'has space' }),
        job({ secrets: { TOKEN: 'no-such-secret' } }),
        job(),
      ],
    });
    expect(status).toBe(200);
    expect(body.results.map((result) => result.outcome)).toEqual([
      'queued',
      'refused',
      'refused',
      'refused',
      'refused',
      'refused',
      'queued',
    ]);
    const pointers = (index: number) =>
      body.results[index]?.problem?.errors?.map((error) => error.pointer) ?? [];
    expect(pointers(1)).toContain('/jobs/1/image');
    expect(pointers(2)).toContain('/jobs/2');
    expect(pointers(3)).toContain('/jobs/3/env/A');
    expect(pointers(4)).toEqual(expect.arrayContaining(['/jobs/4/timeoutMs', '/jobs/4/idempotencyKey']));
    expect(body.results[5]?.problem?.code).toMatch(/secrets-disabled|validation-failed/);
    const queued = body.results
      .filter((result) => result.outcome === 'queued')
      .map((result) => result.id as string);
    expect(await logOf(queued)).toEqual({ streams: 2, transactions: 1 });
  });

  it('atomic: one refused item refuses the batch, and nothing at all is written', async () => {
    const key = `atomic-${randomUUID()}`;
    const { status, body } = await batch({
      atomic: true,
      jobs: [job({ idempotencyKey: key }), job({ limits: { memoryBytes: 'lots' } }), job()],
    });
    expect(status).toBe(400);
    expect(body.code).toBe('batch-refused');
    expect(JSON.stringify(body.errors)).toContain('/jobs/1/limits/memoryBytes');
    // The key was not taken: the same item alone goes through now, as a new job.
    const again = await batch({ atomic: true, jobs: [job({ idempotencyKey: key })] });
    expect(again.body.results[0]?.outcome).toBe('queued');
  });

  it('keys each item: the same key and spec replays its job, another spec is refused, in or across batches', async () => {
    const key = `key-${randomUUID()}`;
    const first = await batch({ jobs: [job({ idempotencyKey: key, command: ['echo', 'one'] })] });
    const id = first.body.results[0]?.id;
    expect(first.body.results[0]?.outcome).toBe('queued');
    const second = await batch({
      jobs: [
        job({ idempotencyKey: key, command: ['echo', 'one'] }),
        job({ idempotencyKey: key, command: ['echo', 'other'] }),
        job({ idempotencyKey: `${key}-new` }),
        // The same new key twice in one batch: one job, the second names it.
        job({ idempotencyKey: `${key}-new` }),
      ],
    });
    expect(second.body.results.map((result) => result.outcome)).toEqual([
      'replayed',
      'refused',
      'queued',
      'replayed',
    ]);
    expect(second.body.results[0]?.id).toBe(id);
    expect(second.body.results[1]?.problem).toMatchObject({ status: 409, code: 'idempotency-key-reused' });
    expect(second.body.results[3]?.id).toBe(second.body.results[2]?.id);
    // Keys are per tenant: the same key in another tenant is another job.
    const other = await batch({ jobs: [job({ idempotencyKey: key, command: ['echo', 'one'] })] }, globex);
    expect(other.body.results[0]?.outcome).toBe('queued');
    expect(other.body.results[0]?.id).not.toBe(id);
    // The single-job route honours a key a batch took, and the other way round.
    const single = await stack.app.request('/v1/jobs', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key, ...acme },
      body: JSON.stringify(job({ command: ['echo', 'one'] })),
    });
    expect(single.status).toBe(200);
    expect(((await single.json()) as { id: string }).id).toBe(id);
  });

  it('refuses an empty batch, one past the limit, an unknown field and a token without jobs:submit', async () => {
    for (const body of [
      { jobs: [] },
      { jobs: Array.from({ length: maxBatchJobs + 1 }, () => job()) },
      { jobs: [job()], extra: 1 },
    ]) {
      const { status, body: problem } = await batch(body);
      expect(status).toBe(400);
      expect(problem.code).toBe('validation-failed');
    }
    const reader = {
      authorization: `Bearer ${await stack.token('reader', { tenant: 'acme', scopes: ['jobs:read'] })}`,
    };
    const { status, body } = await batch({ jobs: [job()] }, reader);
    expect(status).toBe(403);
    expect(body.code).toBe('insufficient-scope');
  });
});
