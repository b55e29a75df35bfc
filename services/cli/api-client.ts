import { apiProblemError, unreachableError } from './cli-error.ts';
import { followSse, type SseEvent } from './sse-stream.ts';

/** Where the CLI's client commands find the API, and as whom they call it. */
export interface ApiClientOptions {
  readonly url: string;
  readonly token: string;
  /** Told when a feed dropped and is being reopened. */
  readonly onReconnect?: (attempt: number, lastEventId: string | undefined) => void;
  /** Wait before reopening a dropped feed (default 1 s, or the server's `retry:`). */
  readonly reconnectDelayMs?: number;
}

export interface FeedOptions {
  readonly signal?: AbortSignal;
  /** The path for a reconnect after `lastEventId`, for routes that resume by a query parameter. */
  readonly resumePath?: (lastEventId: string) => string;
}

async function readBody(response: Response): Promise<unknown> {
  const text = await response.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return { title: `the API answered ${response.status}`, detail: text.slice(0, 200) };
  }
}

/**
 * A small fetch wrapper for the CLI: JSON in and out, problem+json turned into a CliError that
 * keeps the API's problem (title, detail, field pointers), a refused connection into one that
 * says so, and Server-Sent Events followed across dropped connections.
 */
export function createApiClient(options: ApiClientOptions) {
  const base = options.url.replace(/\/+$/, '');
  const authorization = `Bearer ${options.token}`;

  async function call(path: string, init: RequestInit): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        ...init,
        headers: { authorization, ...(init.headers as Record<string, string> | undefined) },
      });
    } catch (error) {
      if ((error as { name?: string }).name === 'AbortError') throw error;
      throw unreachableError(base, error);
    }
    if (!response.ok) throw apiProblemError(response.status, await readBody(response));
    return response;
  }

  return {
    url: base,
    /** JSON answer of `path`; a body is sent as JSON, `headers` add to the request's. */
    async json<T>(
      path: string,
      init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
    ): Promise<T> {
      const response = await call(path, {
        method: init.method ?? 'GET',
        headers: {
          ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...init.headers,
        },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      });
      return (await readBody(response)) as T;
    },
    /** Sends raw bytes (an upload) and returns the JSON answer. */
    async upload<T>(path: string, content: Uint8Array, contentType: string): Promise<T> {
      const response = await call(path, {
        method: 'POST',
        headers: { 'content-type': contentType },
        body: content,
      });
      return (await readBody(response)) as T;
    },
    /** The bytes at `path` (a download). */
    async bytes(path: string): Promise<Buffer> {
      const response = await call(path, {});
      return Buffer.from(await response.arrayBuffer());
    },
    /** Server-Sent Events of `path` until the feed's `end`, reopened after the last id if it drops. */
    events(path: string, feed: FeedOptions = {}): AsyncGenerator<SseEvent> {
      return followSse({
        open: (lastEventId, signal) =>
          call(lastEventId !== undefined && feed.resumePath ? feed.resumePath(lastEventId) : path, {
            signal,
            headers: {
              accept: 'text/event-stream',
              ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }),
            },
          }),
        ...(feed.signal ? { signal: feed.signal } : {}),
        ...(options.onReconnect ? { onReconnect: options.onReconnect } : {}),
        ...(options.reconnectDelayMs === undefined ? {} : { reconnectDelayMs: options.reconnectDelayMs }),
      });
    },
  };
}

export type ApiClient = ReturnType<typeof createApiClient>;
