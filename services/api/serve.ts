import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { WebSocketServer } from 'ws';

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
  const wss = new WebSocketServer({ noServer: true });
  const { server, port } = await new Promise<{ server: ReturnType<typeof serve>; port: number }>(
    (resolve, reject) => {
      const started = serve(
        { fetch: app.fetch, port: options.port, hostname: options.host, websocket: { server: wss } },
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
