import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AtomicBatchTooLargeError,
  type BatchJob,
  createOmniClient,
  maxJobsPerBatch,
  OmniProblemError,
  submitJobs,
} from '../../client/index.ts';
import { type ServedApp, serveApp } from '../../services/api/serve.ts';
import { testImage } from '../support/test-image.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

// No workers: this is about what the client sends and what it answers, not about running the jobs.
let stack: TestStack;
let server: ServedApp;
let token: string;

beforeAll(async () => {
  stack = await startTestStack('submit_jobs', { withWorkers: false });
  server = await serveApp(stack.app, { port: 0, host: '127.0.0.1' });
  token = await stack.token('batch-user');
});
afterAll(async () => {
  await server?.close();
  await stack?.stop();
});

/** A client over the served API that counts the jobs of each batch request it sends. */
function countingClient() {
  const batches: number[] = [];
  const omni = createOmniClient({
    url: server.url,
    token,
    fetch: async (input) => {
      // The client hands its fetch a Request.
      const request = input as Request;
      if (new URL(request.url).pathname === '/v1/jobs/batch')
        batches.push(((await request.clone().json()) as { jobs: unknown[] }).jobs.length);
      return fetch(request);
    },
  });
  return { omni, batches };
}

const job = (n: number, extra: Record<string, unknown> = {}): BatchJob => ({
  image: testImage,
  command: ['echo', String(n)],
  labels: { n: String(n) },
  ...extra,
});

describe('submitJobs', { timeout: 120_000 }, () => {
  it(`splits ${maxJobsPerBatch + 1} jobs into two requests and answers each job in order`, async () => {
    const { omni, batches } = countingClient();
    const jobs = Array.from({ length: maxJobsPerBatch + 1 }, (_, n) =>
      // The last job, alone in the second request, is refused: its index and pointer are the caller's.
      n === maxJobsPerBatch ? job(n, { image: 'not-allowed:latest' }) : job(n),
    );
    const told: number[][] = [];
    const results = await submitJobs(omni, jobs, {
      onBatch: (answered) => told.push(answered.map((result) => result.index)),
    });
    expect(batches).toEqual([maxJobsPerBatch, 1]);
    expect(told.map((indexes) => indexes.length)).toEqual([maxJobsPerBatch, 1]);
    expect(told[1]).toEqual([maxJobsPerBatch]);
    expect(results.map((result) => result.index)).toEqual(jobs.map((_, n) => n));
    expect(results.slice(0, maxJobsPerBatch).every((result) => result.outcome === 'queued')).toBe(true);
    expect(results[maxJobsPerBatch]).toMatchObject({
      outcome: 'refused',
      id: null,
      problem: {
        code: 'validation-failed',
        errors: [expect.objectContaining({ pointer: `/jobs/${maxJobsPerBatch}/image` })],
      },
    });
    // Each id is the job given at its index, across the split.
    for (const n of [0, 999]) {
      const view = await omni.getJob(results[n]?.id as string);
      expect(view.labels).toEqual({ n: String(n) });
    }
  });

  it(`refuses more than ${maxJobsPerBatch} atomic jobs before sending any`, async () => {
    const { omni, batches } = countingClient();
    const jobs = Array.from({ length: maxJobsPerBatch + 1 }, (_, n) => job(n));
    const refused = await omni.submitJobs(jobs, { atomic: true }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(AtomicBatchTooLargeError);
    expect(refused).toMatchObject({ code: 'atomic-batch-too-large', jobs: maxJobsPerBatch + 1 });
    expect(batches).toEqual([]);
  });

  it('throws an atomic refusal as the API answered it, and sends nothing for no jobs', async () => {
    const { omni, batches } = countingClient();
    const refused = await omni
      .submitJobs([job(1), job(2, { image: 'not-allowed:latest' })], { atomic: true })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OmniProblemError);
    expect(refused).toMatchObject({ status: 400, code: 'batch-refused' });
    expect(await omni.submitJobs([])).toEqual([]);
    expect(batches).toEqual([2]);
  });
});
