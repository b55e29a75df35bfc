import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Hono } from 'hono';

const swaggerUiDirectory = (
  createRequire(import.meta.url)('swagger-ui-dist') as { getAbsoluteFSPath(): string }
).getAbsoluteFSPath();

// Served from the package itself: no CDN is needed, so the page works on a closed network.
const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>omni API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="ui"></div><script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/init.js"></script></body></html>`;
const init = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#ui', deepLinking: true, persistAuthorization: true });`;

const assets: Record<string, string> = {
  'swagger-ui.css': 'text/css',
  'swagger-ui-bundle.js': 'text/javascript',
};

/** `/openapi.json` (the document `document` builds, once) and an interactive reference at `/docs`. */
export function createDocsRoutes(options: { readonly document: () => unknown }) {
  let document: string | undefined;
  return new Hono()
    .get('/openapi.json', (c) => {
      document ??= JSON.stringify(options.document());
      return c.body(document, 200, { 'content-type': 'application/json' });
    })
    .get('/docs', (c) => {
      // The reference page runs one inline-free script bundle; loosen only what it needs.
      c.header(
        'content-security-policy',
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
      );
      return c.html(page);
    })
    .get('/docs/assets/init.js', (c) => c.body(init, 200, { 'content-type': 'text/javascript' }))
    .get('/docs/assets/:file', async (c) => {
      const file = c.req.param('file');
      // Own keys only: `__proto__` or `constructor` would name no file and answer a 500.
      const type = Object.hasOwn(assets, file) ? assets[file] : undefined;
      if (!type) return c.notFound();
      return c.body(await readFile(join(swaggerUiDirectory, file)), 200, {
        'content-type': type,
        'cache-control': 'public, max-age=86400',
      });
    });
}
