import {
  type BatchJob,
  type BatchJobResult,
  createOmniClient,
  OmniProblemError,
  type StreamEvent,
} from '../../client/index.ts';

/** A refusal from the API: the client's problem error (status, stable code, field errors). */
export { OmniProblemError as ApiError };

export type SseMessage = StreamEvent;

export interface Api {
  get<T>(path: string, signal?: AbortSignal): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  /** A partial change (PATCH), such as pausing a schedule. */
  patch<T>(path: string, body: unknown): Promise<T>;
  /** A file's bytes, fetched with the token in the Authorization header (never in a URL). */
  download(path: string): Promise<Blob>;
  /**
   * Follows a Server-Sent Events route with fetch, so the token travels in the Authorization
   * header (EventSource cannot send one, and a token in the URL would reach logs). Resolves when
   * the server ends the stream or `signal` aborts.
   */
  follow(path: string, signal: AbortSignal, onMessage: (message: SseMessage) => void): Promise<void>;
  /** Submits many jobs (1,000 a request); one result per job, in the order given. */
  submitJobs(jobs: readonly BatchJob[], options: { readonly atomic?: boolean }): Promise<BatchJobResult[]>;
}

/**
 * The API as this signed-in tab calls it, through @omni/client (the same client the CLI uses):
 * `onUnauthorized` runs on any 401 (an expired or revoked token).
 */
export function createApi(token: string, onUnauthorized: () => void): Api {
  const omni = createOmniClient({ url: '', token, onUnauthorized });
  const json = async <T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> => {
    const response = await omni.send(path, {
      method,
      cache: 'no-store',
      headers: {
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      ...(signal ? { signal } : {}),
    });
    return (response.status === 204 ? undefined : await response.json()) as T;
  };
  return {
    get: (path, signal) => json('GET', path, undefined, signal),
    post: (path, body) => json('POST', path, body ?? {}),
    patch: (path, body) => json('PATCH', path, body),
    async download(path) {
      return await (await omni.send(path, { cache: 'no-store' })).blob();
    },
    async follow(path, signal, onMessage) {
      // The page shows what comes; it reopens the feed itself when it wants more (no resume here).
      const feed = omni.events(path, { signal });
      try {
        for await (const message of feed) onMessage(message);
      } catch (error) {
        if (!signal.aborted) throw error;
      }
    },
    submitJobs: (jobs, options) => omni.submitJobs(jobs, options),
  };
}
