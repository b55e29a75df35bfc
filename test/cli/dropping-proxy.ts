import { createServer, request, type Server } from 'node:http';

/** An HTTP proxy in front of the API that cuts Server-Sent Events feeds mid-way, as a flaky network does. */
export interface DroppingProxy {
  readonly url: string;
  /** The Last-Event-ID header of each feed request it saw, in order (undefined on a first connect). */
  readonly lastEventIds: readonly (string | undefined)[];
  /** Feeds it cut. */
  readonly cuts: () => number;
  close(): Promise<void>;
}

/**
 * Forwards every request to `target`; the first `cutFeeds` event-stream responses are destroyed
 * (the socket closed, no `end` event) after `eventsBeforeCut` complete events have passed.
 */
export async function startDroppingProxy(
  target: string,
  options: { eventsBeforeCut: number; cutFeeds: number },
): Promise<DroppingProxy> {
  const upstream = new URL(target);
  const lastEventIds: (string | undefined)[] = [];
  let cut = 0;
  const server: Server = createServer((incoming, outgoing) => {
    const isFeed = (incoming.headers.accept ?? '').includes('text/event-stream');
    if (isFeed) lastEventIds.push(incoming.headers['last-event-id'] as string | undefined);
    const forwarded = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: incoming.method,
        path: incoming.url,
        headers: { ...incoming.headers, host: upstream.host },
      },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        const cutThis = isFeed && answer.statusCode === 200 && cut < options.cutFeeds;
        if (!cutThis) {
          answer.pipe(outgoing);
          return;
        }
        cut += 1;
        let passed = 0;
        let pending = '';
        answer.setEncoding('utf8');
        answer.on('data', (chunk: string) => {
          pending += chunk;
          // Pass whole events only, then close the client's socket in the middle of the feed.
          for (let end = pending.indexOf('\n\n'); end !== -1; end = pending.indexOf('\n\n')) {
            const block = pending.slice(0, end + 2);
            pending = pending.slice(end + 2);
            if (block.startsWith(':')) continue;
            passed += 1;
            if (passed < options.eventsBeforeCut) {
              outgoing.write(block);
              continue;
            }
            // Closed once the last event is on the wire, so the client has it before the cut.
            answer.destroy();
            outgoing.write(block, () => outgoing.socket?.destroy());
            return;
          }
        });
      },
    );
    forwarded.on('error', () => outgoing.destroy());
    incoming.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    lastEventIds,
    cuts: () => cut,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
