import { Hono } from 'hono';
import { type ServedApp, serveApp } from './api/serve.ts';
import type { Telemetry } from './telemetry/telemetry.ts';

/**
 * `/metrics` (and `/healthz`) of a process that runs no API: a dispatcher's queue depth, a
 * worker's sandbox durations and outcomes exist only in that process, so each serves its own for
 * the collector to scrape. Unauthenticated like the API's `/metrics`: bind it where only the
 * scraper reaches (the telemetry keeps host and process attributes out of it).
 */
export function serveMetrics(
  telemetry: Telemetry,
  address: { readonly port: number; readonly host: string },
): Promise<ServedApp> {
  const app = new Hono()
    .get('/metrics', async (c) =>
      c.text(await telemetry.prometheusText(), 200, {
        'content-type': 'text/plain; version=0.0.4; charset=utf-8',
      }),
    )
    .get('/healthz', (c) => c.json({ status: 'ok' }));
  return serveApp(app, address);
}
