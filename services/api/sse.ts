import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';

/**
 * Where a feed of a job's stream resumes: after the Last-Event-ID an EventSource sends by itself
 * when it reconnects (the stream version it saw last), or after `asked`, whichever is later.
 */
export function resumeAfterVersion(c: Context, asked = 0): number {
  const seen = Number(c.req.header('last-event-id') ?? '');
  return Number.isSafeInteger(seen) && seen > asked ? seen : asked;
}

/**
 * Streams `source` as Server-Sent Events with a heartbeat comment every 15 s, so proxies keep the
 * connection open. The source gets an AbortSignal that fires when the client goes away.
 */
export function sseResponse<T>(
  c: Context,
  source: (signal: AbortSignal) => AsyncIterable<T>,
  describe: (item: T) => { readonly event: string; readonly id?: string; readonly data: unknown },
  /** The data of the closing `end` event, once the source is exhausted. */
  end: () => unknown = () => ({}),
): Response {
  return streamSSE(c, async (stream) => {
    const controller = new AbortController();
    stream.onAbort(() => controller.abort());
    const heartbeat = setInterval(() => void stream.write(': keep-alive\n\n'), 15_000);
    try {
      for await (const item of source(controller.signal)) {
        const { event, id, data } = describe(item);
        await stream.writeSSE({ event, data: JSON.stringify(data), ...(id === undefined ? {} : { id }) });
      }
      if (!controller.signal.aborted) await stream.writeSSE({ event: 'end', data: JSON.stringify(end()) });
    } finally {
      clearInterval(heartbeat);
      controller.abort();
    }
  });
}
