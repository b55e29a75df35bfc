import type { Problem } from './types.ts';

/** A refusal from the API, with its problem+json body when it sent one. */
export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;
  constructor(status: number, problem: Problem) {
    const fields = problem.errors?.map((error) => `${error.pointer}: ${error.detail}`).join('; ');
    super([problem.detail ?? problem.title ?? `HTTP ${status}`, fields].filter(Boolean).join(' — '));
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem;
  }
}

export interface SseMessage {
  readonly event: string;
  readonly id?: string;
  readonly data: string;
}

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
}

async function refusal(response: Response): Promise<ApiError> {
  let problem: Problem = {};
  try {
    problem = (await response.json()) as Problem;
  } catch {
    // Not JSON (a proxy's page): the status says enough.
  }
  return new ApiError(response.status, problem);
}

/** Splits an event stream into messages (the subset of the SSE format the API writes). */
export async function readEventStream(
  body: ReadableStream<Uint8Array<ArrayBuffer>>,
  onMessage: (message: SseMessage) => void,
): Promise<void> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, '\n');
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      let id: string | undefined;
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = text;
        else if (field === 'id') id = text;
        else if (field === 'data') data.push(text);
      }
      if (data.length > 0) onMessage({ event, data: data.join('\n'), ...(id === undefined ? {} : { id }) });
    }
  }
}

/** The API as this signed-in tab calls it; `onUnauthorized` runs on any 401 (expired or revoked token). */
export function createApi(token: string, onUnauthorized: () => void): Api {
  const headers = (extra: Record<string, string> = {}) => ({ authorization: `Bearer ${token}`, ...extra });
  const check = async (response: Response) => {
    if (response.ok) return response;
    if (response.status === 401) onUnauthorized();
    throw await refusal(response);
  };
  return {
    async get<T>(path: string, signal?: AbortSignal) {
      const response = await check(
        await fetch(path, {
          headers: headers({ accept: 'application/json' }),
          cache: 'no-store',
          ...(signal ? { signal } : {}),
        }),
      );
      return (await response.json()) as T;
    },
    async post<T>(path: string, body?: unknown) {
      const response = await check(
        await fetch(path, {
          method: 'POST',
          headers: headers({ accept: 'application/json', 'content-type': 'application/json' }),
          body: JSON.stringify(body ?? {}),
        }),
      );
      return (response.status === 204 ? undefined : await response.json()) as T;
    },
    async patch<T>(path: string, body: unknown) {
      const response = await check(
        await fetch(path, {
          method: 'PATCH',
          headers: headers({ accept: 'application/json', 'content-type': 'application/json' }),
          body: JSON.stringify(body),
        }),
      );
      return (await response.json()) as T;
    },
    async download(path) {
      const response = await check(await fetch(path, { headers: headers(), cache: 'no-store' }));
      return await response.blob();
    },
    async follow(path, signal, onMessage) {
      const response = await check(
        await fetch(path, { headers: headers({ accept: 'text/event-stream' }), cache: 'no-store', signal }),
      );
      if (!response.body) return;
      try {
        await readEventStream(response.body, onMessage);
      } catch (error) {
        if (!signal.aborted) throw error;
      }
    },
  };
}
