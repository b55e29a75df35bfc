import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { OmniProblemError } from './problem.ts';

/** One Server-Sent Event: its type (`message` when unnamed), its id when it had one, its data. */
export interface StreamEvent {
  readonly event: string;
  readonly id?: string;
  readonly data: string;
}

/** A feed that closed before its `end`, again and again, delivering nothing in between. */
export class FeedDroppedError extends Error {
  readonly attempts: number;
  constructor(attempts: number, cause?: unknown) {
    super(`the feed closed before its end ${attempts} times in a row, delivering nothing`, { cause });
    this.name = 'FeedDroppedError';
    this.attempts = attempts;
  }
}

export interface FollowOptions {
  /**
   * Opens the feed: `lastEventId` is the id of the last event received (undefined the first time),
   * sent as `Last-Event-ID` and, for routes that take it as a query parameter, in the path.
   */
  readonly open: (lastEventId: string | undefined, signal: AbortSignal) => Promise<Response>;
  /** Ends the feed (and the generator) when aborted. */
  readonly signal?: AbortSignal;
  /** Wait before reconnecting, until the server says otherwise with `retry:` (default 1 s). */
  readonly reconnectDelayMs?: number;
  /** Reconnects in a row that deliver nothing before the feed is given up on (default 5). */
  readonly maxReconnects?: number;
  /** Told before each reconnect. */
  readonly onReconnect?: (attempt: number, lastEventId: string | undefined) => void;
  /** A failure to open the feed that is not worth a retry; default: the API's refusal (a problem). */
  readonly isFatal?: (error: unknown) => boolean;
}

const isRefusal = (error: unknown) => error instanceof OmniProblemError;

/**
 * Follows a Server-Sent Events feed until it sends `end` (yielded, then the generator returns).
 * The feed is parsed by eventsource-parser (multi-line data, CRLF or CR line ends, comments, ids,
 * `retry:`). A connection that drops before `end` is reopened with the last id received, so the
 * server resumes after it: nothing lost and nothing repeated, as long as the server honours the id.
 */
export async function* followEventStream(options: FollowOptions): AsyncGenerator<StreamEvent> {
  const maxReconnects = options.maxReconnects ?? 5;
  const isFatal = options.isFatal ?? isRefusal;
  let delayMs = options.reconnectDelayMs ?? 1000;
  let lastEventId: string | undefined;
  let failuresInARow = 0;
  // A feed that never opened is not resumed: the server is not there (or says no) to begin with.
  let opened = false;
  for (;;) {
    const connection = new AbortController();
    const abort = () => connection.abort();
    options.signal?.addEventListener('abort', abort, { once: true });
    const received: EventSourceMessage[] = [];
    const parser = createParser({
      onEvent: (message) => received.push(message),
      onRetry: (retryMs) => {
        delayMs = Math.min(Math.max(retryMs, 0), 60_000);
      },
    });
    let dropped: unknown;
    try {
      const response = await options.open(lastEventId, connection.signal);
      opened = true;
      if (!response.body) throw new Error('the feed has no body');
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.feed(value);
        for (const message of received.splice(0)) {
          failuresInARow = 0;
          if (message.id !== undefined) lastEventId = message.id;
          const event = message.event ?? 'message';
          yield { event, data: message.data, ...(message.id === undefined ? {} : { id: message.id }) };
          if (event === 'end') {
            await reader.cancel().catch(() => undefined);
            return;
          }
        }
      }
    } catch (error) {
      if (options.signal?.aborted) return;
      if (isFatal(error) || !opened) throw error;
      dropped = error;
    } finally {
      options.signal?.removeEventListener('abort', abort);
      connection.abort();
    }
    if (options.signal?.aborted) return;
    // The body ended (or broke) before `end`: the server went away or a proxy cut the feed.
    failuresInARow += 1;
    if (failuresInARow > maxReconnects) throw new FeedDroppedError(failuresInARow, dropped);
    options.onReconnect?.(failuresInARow, lastEventId);
    await new Promise((resolve) => setTimeout(resolve, delayMs * Math.min(failuresInARow, 5)));
  }
}
