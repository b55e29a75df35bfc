import type { IncomingMessage } from 'node:http';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { WebSocketServer } from 'ws';

/**
 * Largest WebSocket message a client may send. The API's sockets only ever send (the watch feed
 * never reads what the client says), so anything bigger is refused with close code 1009 as soon
 * as its frame header announces it, instead of being buffered (ws allows 100 MiB by default).
 */
const maxWebSocketMessageBytes = 4 * 1024;

/**
 * Only WebSocket upgrades leave the HTTP parser. @hono/node-server's 'upgrade' listener ignores
 * every other protocol (h2c, …) without answering or closing the socket, so each such request
 * used to hold a file descriptor forever; refused here, the request is answered as plain HTTP/1.1,
 * which RFC 9110 allows (a server may ignore Upgrade). A WebSocket upgrade on a route that does
 * not take one is answered with that route's status and closed by the adapter.
 */
const isWebSocketUpgrade = (request: IncomingMessage) =>
  request.headers.upgrade?.toLowerCase() === 'websocket';

/**
 * On a WebSocket upgrade that the route did not take, the adapter sends only the status of the
 * route's answer and closes the socket; it never reads nor cancels the body. A streaming body
 * (a Server-Sent Events feed) would then run forever with no one to read it: its heartbeat and
 * its log tail leaked per request. Cancelling the body ends the stream's producer.
 */
function discardBodiesOfRefusedUpgrades(fetch: Hono['fetch']): Hono['fetch'] {
  return async (request, env, executionContext) => {
    const response = await fetch(request, env, executionContext);
    // Only the upgrade path hands the app a request without an outgoing response.
    const bindings = env as { incoming?: unknown; outgoing?: unknown } | undefined;
    if (bindings?.incoming !== undefined && bindings.outgoing === undefined && response.body) {
      void response.body.cancel().catch(() => undefined);
    }
    return response;
  };
}

export interface ServedApp {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Serves a Hono app over HTTP with WebSocket upgrades enabled; resolves once it listens. */
export async function serveApp(
  app: Pick<Hono, 'fetch'>,
  options: { readonly port: number; readonly host: string },
): Promise<ServedApp> {
  const wss = new WebSocketServer({ noServer: true, maxPayload: maxWebSocketMessageBytes });
  const { server, port } = await new Promise<{ server: ReturnType<typeof serve>; port: number }>(
    (resolve, reject) => {
      const started = serve(
        {
          fetch: discardBodiesOfRefusedUpgrades(app.fetch),
          port: options.port,
          hostname: options.host,
          websocket: { server: wss },
          serverOptions: { shouldUpgradeCallback: isWebSocketUpgrade },
        },
        (info) => resolve({ server: started, port: info.port }),
      );
      started.once('error', reject);
    },
  );
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    port,
    async close() {
      for (const client of wss.clients) client.terminate();
      wss.close();
      // Open SSE streams would hold close() forever; they end with their sockets.
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
