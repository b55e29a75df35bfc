import type { Client } from 'openapi-fetch';
import type { components, paths } from './openapi.ts';

type Schemas = components['schemas'];

/** A job spec as POST /v1/jobs takes it, with the idempotency key its header would carry. */
export type BatchJob = Schemas['JobSubmission'] & { readonly idempotencyKey?: string };

/** One job's answer: queued, replayed (its key named that job already) or refused, with the problem. */
export type BatchJobResult = Schemas['JobBatchResult']['results'][number];

/** The most jobs POST /v1/jobs/batch takes in one request (and one commit). */
export const maxJobsPerBatch = 1000;

export interface SubmitJobsOptions {
  /**
   * All or nothing: any refused job refuses the rest and nothing is submitted. It holds per request,
   * so more than `maxJobsPerBatch` jobs with `atomic` are refused before anything is sent.
   */
  readonly atomic?: boolean;
  /** Each request's results as it is answered (indexes into `jobs`), before the next is sent. */
  readonly onBatch?: (results: readonly BatchJobResult[]) => void;
}

/** More jobs than one atomic request holds: refused before anything was sent. */
export class AtomicBatchTooLargeError extends Error {
  readonly code = 'atomic-batch-too-large';
  readonly jobs: number;
  readonly limit = maxJobsPerBatch;
  constructor(jobs: number) {
    super(
      `atomic holds for one request of at most ${maxJobsPerBatch} jobs; ${jobs} were given (split them, or submit them without atomic)`,
    );
    this.name = 'AtomicBatchTooLargeError';
    this.jobs = jobs;
  }
}

// A result's index and its problem's pointers (/jobs/<index>/…) name the job within its request.
function shifted(result: BatchJobResult, offset: number): BatchJobResult {
  if (offset === 0) return result;
  const index = result.index + offset;
  if (!result.problem?.errors) return { ...result, index };
  return {
    ...result,
    index,
    problem: {
      ...result.problem,
      errors: result.problem.errors.map((error) => ({
        ...error,
        pointer: error.pointer.replace(/^\/jobs\/(\d+)/, (_, at: string) => `/jobs/${Number(at) + offset}`),
      })),
    },
  };
}

/**
 * Submits any number of jobs through POST /v1/jobs/batch, 1,000 a request, one request after the
 * other, and answers one result per job in the order given (`index` into `jobs`, pointers under
 * `/jobs/<index>`). A refusal of a whole request (an atomic batch with a refused job, a bad token)
 * is thrown as the client throws any; the requests answered before it stay submitted, so give the
 * jobs idempotency keys to send them all again safely.
 */
export async function submitJobs(
  client: { readonly api: Client<paths> },
  jobs: readonly BatchJob[],
  options: SubmitJobsOptions = {},
): Promise<BatchJobResult[]> {
  const atomic = options.atomic === true;
  if (atomic && jobs.length > maxJobsPerBatch) throw new AtomicBatchTooLargeError(jobs.length);
  const results: BatchJobResult[] = [];
  for (let offset = 0; offset < jobs.length; offset += maxJobsPerBatch) {
    const { data } = await client.api.POST('/v1/jobs/batch', {
      body: { jobs: jobs.slice(offset, offset + maxJobsPerBatch), ...(atomic ? { atomic } : {}) },
    });
    // The client throws every refusal, so an answer holds its data; it lists the jobs by index.
    const answered = (data as Schemas['JobBatchResult']).results
      .map((result) => shifted(result, offset))
      .sort((a, b) => a.index - b.index);
    options.onBatch?.(answered);
    results.push(...answered);
  }
  return results;
}
