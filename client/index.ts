import createClient from 'openapi-fetch';
import { followEventStream, type StreamEvent } from './event-stream.ts';
import type { components, paths } from './openapi.ts';
import { OmniUnreachableError, problemOf } from './problem.ts';
import { type BatchJob, type BatchJobResult, type SubmitJobsOptions, submitJobs } from './submit-jobs.ts';
import { type WaitForJobOptions, waitForJob } from './wait-for-job.ts';

export { FeedDroppedError, type FollowOptions, followEventStream, type StreamEvent } from './event-stream.ts';
export { type JobLine, type JobLines, readJobLines } from './job-lines.ts';
export type { components, operations, paths } from './openapi.ts';
export { type FieldError, OmniProblemError, OmniUnreachableError, type Problem } from './problem.ts';
export {
  AtomicBatchTooLargeError,
  type BatchJob,
  type BatchJobResult,
  maxJobsPerBatch,
  type SubmitJobsOptions,
  submitJobs,
} from './submit-jobs.ts';
export type { WaitForJobOptions } from './wait-for-job.ts';

type Schemas = components['schemas'];
export type JobSpec = Schemas['JobSubmission'];
export type JobAccepted = Schemas['JobAccepted'];
export type JobView = Schemas['JobView'];
export type JobEvent = Schemas['Event'];
export type FileView = Schemas['FileView'];
export type Schedule = Schemas['Schedule'];
export type Webhook = Schemas['Webhook'];

export interface OmniClientOptions {
  /** The API's base URL (`http://127.0.0.1:3000`); '' in a page served by the API itself. */
  readonly url: string;
  /** A bearer token (`omni token`, or the one `npm start` prints). */
  readonly token: string;
  /** Runs on every 401 (an expired or revoked token), before the error is thrown. */
  readonly onUnauthorized?: () => void;
  /** Told when a feed dropped and is being reopened. */
  readonly onReconnect?: (attempt: number, lastEventId: string | undefined) => void;
  /** Wait before reopening a dropped feed (default 1 s, or the server's `retry:`). */
  readonly reconnectDelayMs?: number;
  /** The fetch to use (default: the global one). */
  readonly fetch?: typeof fetch;
}

export interface FeedOptions {
  readonly signal?: AbortSignal;
  /** The path for a reconnect after `lastEventId`, for routes that resume by a query parameter. */
  readonly resumePath?: (lastEventId: string) => string;
}

/**
 * The omni API, typed from its OpenAPI document. `api` has a method per HTTP verb taking the
 * document's paths (`api.GET('/v1/jobs/{id}', { params: { path: { id } } })`); every refusal is
 * thrown as an OmniProblemError (status, code, field errors) and an unreachable API as an
 * OmniUnreachableError, so an answer that returns holds its data. Server-Sent Events routes are
 * followed with `events`, across dropped connections.
 */
export function createOmniClient(options: OmniClientOptions) {
  const base = options.url.replace(/\/+$/, '');
  const authorization = `Bearer ${options.token}`;
  const fetchImplementation = options.fetch ?? globalThis.fetch;

  async function send(request: Request): Promise<Response> {
    let response: Response;
    try {
      response = await fetchImplementation(request);
    } catch (error) {
      if ((error as { name?: string }).name === 'AbortError') throw error;
      throw new OmniUnreachableError(base || '/', error);
    }
    if (response.ok) return response;
    if (response.status === 401) options.onUnauthorized?.();
    throw await problemOf(response);
  }

  // A page served by the API calls it on its own origin: openapi-fetch needs an absolute base there.
  const baseUrl = base || ((globalThis as { location?: { origin: string } }).location?.origin ?? '');
  const api = createClient<paths>({ baseUrl, fetch: send, headers: { authorization } });

  /** Server-Sent Events of `path` until the feed's `end`, reopened after the last id if it drops. */
  function events(path: string, feed: FeedOptions = {}): AsyncGenerator<StreamEvent> {
    return followEventStream({
      open: (lastEventId, signal) =>
        send(
          new Request(
            `${baseUrl}${lastEventId !== undefined && feed.resumePath ? feed.resumePath(lastEventId) : path}`,
            {
              signal,
              cache: 'no-store',
              headers: {
                authorization,
                accept: 'text/event-stream',
                ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }),
              },
            },
          ),
        ),
      ...(feed.signal ? { signal: feed.signal } : {}),
      ...(options.onReconnect ? { onReconnect: options.onReconnect } : {}),
      ...(options.reconnectDelayMs === undefined ? {} : { reconnectDelayMs: options.reconnectDelayMs }),
    });
  }

  /** A job's events, history then live, until it finishes; a dropped feed resumes after the last version. */
  function watchJob(jobId: string, signal?: AbortSignal): AsyncGenerator<StreamEvent> {
    const path = `/v1/jobs/${encodeURIComponent(jobId)}/watch`;
    return events(path, {
      ...(signal ? { signal } : {}),
      resumePath: (lastEventId) => `${path}?afterVersion=${encodeURIComponent(lastEventId)}`,
    });
  }

  async function getJob(jobId: string): Promise<JobView> {
    const { data } = await api.GET('/v1/jobs/{id}', { params: { path: { id: jobId } } });
    return data as JobView;
  }

  return {
    api,
    url: base,
    /** Any route by path (a download, an upload of raw bytes), with the token and the same errors. */
    send: (path: string, init: RequestInit = {}): Promise<Response> =>
      send(
        new Request(`${baseUrl}${path}`, {
          ...init,
          headers: { ...(init.headers as Record<string, string> | undefined), authorization },
        }),
      ),
    events,
    watchJob,
    getJob,
    /** Submits a job; an idempotency key makes a retry of the same submission answer the same job. */
    async submitJob(spec: JobSpec, submit: { readonly idempotencyKey?: string } = {}): Promise<JobAccepted> {
      const { data } = await api.POST('/v1/jobs', {
        body: spec,
        ...(submit.idempotencyKey === undefined
          ? {}
          : { params: { header: { 'idempotency-key': submit.idempotencyKey } } }),
      });
      return data as JobAccepted;
    },
    /** Submits any number of jobs, 1,000 a request; one result per job, in the order given (see submitJobs). */
    submitJobs: (jobs: readonly BatchJob[], submit: SubmitJobsOptions = {}): Promise<BatchJobResult[]> =>
      submitJobs({ api }, jobs, submit),
    /** Waits for a job to finish (following its watch feed) and answers it as it ended. */
    waitForJob: (jobId: string, wait: WaitForJobOptions = {}): Promise<JobView> =>
      waitForJob({ watch: watchJob, getJob }, jobId, wait),
  };
}

export type OmniClient = ReturnType<typeof createOmniClient>;
