import {
  createOmniClient,
  FeedDroppedError,
  type FeedOptions,
  OmniProblemError,
  OmniUnreachableError,
  type StreamEvent,
} from '../../client/index.ts';
import { apiProblemError, CliError, unreachableError } from './cli-error.ts';
import { exitCodes } from './exit-codes.ts';

/** Where the CLI's client commands find the API, and as whom they call it. */
export interface ApiClientOptions {
  readonly url: string;
  readonly token: string;
  /** Told when a feed dropped and is being reopened. */
  readonly onReconnect?: (attempt: number, lastEventId: string | undefined) => void;
  /** Wait before reopening a dropped feed (default 1 s, or the server's `retry:`). */
  readonly reconnectDelayMs?: number;
}

export type { FeedOptions } from '../../client/index.ts';

/**
 * The failure a client error is for the CLI: the API's problem (title, detail, field pointers) with
 * the exit code of its status, an unreachable API in words, a feed that kept dropping. Anything
 * else is passed through as it is.
 */
export function cliErrorOf(error: unknown): unknown {
  if (error instanceof OmniProblemError) return apiProblemError(error.status, error.problem);
  if (error instanceof OmniUnreachableError) return unreachableError(error.url, error.cause);
  if (error instanceof FeedDroppedError) {
    // The last reconnect could not reach the API at all: that is what to say.
    const cause = cliErrorOf(error.cause);
    if (cause instanceof CliError) return cause;
    return new CliError(
      {
        title: 'the feed kept dropping',
        code: 'feed-dropped',
        detail: `it closed before its end ${error.attempts} times in a row, delivering nothing`,
      },
      exitCodes.unreachable,
    );
  }
  return error;
}

const asCliFailure = async <T>(call: Promise<T>): Promise<T> => {
  try {
    return await call;
  } catch (error) {
    throw cliErrorOf(error);
  }
};

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text();
  return text ? (JSON.parse(text) as unknown) : undefined;
}

/**
 * The CLI's side of @omni/client: the typed client (`omni`) for commands, and a few calls by path
 * (JSON, raw uploads, downloads, feeds), every failure a CliError.
 */
export function createApiClient(options: ApiClientOptions) {
  const omni = createOmniClient({
    url: options.url,
    token: options.token,
    ...(options.onReconnect ? { onReconnect: options.onReconnect } : {}),
    ...(options.reconnectDelayMs === undefined ? {} : { reconnectDelayMs: options.reconnectDelayMs }),
  });

  return {
    url: omni.url,
    omni,
    /** The data of a typed call (`client.call(client.omni.api.GET(…))`); a refusal is a CliError. */
    async call<T>(request: Promise<{ data?: T }>): Promise<T> {
      return (await asCliFailure(request)).data as T;
    },
    /** JSON answer of `path`; a body is sent as JSON, `headers` add to the request's. */
    async json<T>(
      path: string,
      init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
    ): Promise<T> {
      const response = await asCliFailure(
        omni.send(path, {
          method: init.method ?? 'GET',
          headers: {
            ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
            ...init.headers,
          },
          ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
        }),
      );
      return (await readJson(response)) as T;
    },
    /** Sends raw bytes (an upload) and returns the JSON answer. */
    async upload<T>(path: string, content: Uint8Array, contentType: string): Promise<T> {
      const response = await asCliFailure(
        omni.send(path, {
          method: 'POST',
          headers: { 'content-type': contentType },
          body: content as Uint8Array<ArrayBuffer>,
        }),
      );
      return (await readJson(response)) as T;
    },
    /** The bytes at `path` (a download). */
    async bytes(path: string): Promise<Buffer> {
      const response = await asCliFailure(omni.send(path));
      return Buffer.from(await response.arrayBuffer());
    },
    /** Server-Sent Events of `path` until the feed's `end`, reopened after the last id if it drops. */
    async *events(path: string, feed: FeedOptions = {}): AsyncGenerator<StreamEvent> {
      try {
        yield* omni.events(path, feed);
      } catch (error) {
        throw cliErrorOf(error);
      }
    },
  };
}

export type ApiClient = ReturnType<typeof createApiClient>;
