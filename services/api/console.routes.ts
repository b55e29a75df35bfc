import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import { ProblemError } from './problem.ts';

/** Where `npm run build:console` (run by npm ci's `prepare`) writes the console's files. */
export const consoleAssetsDirectory = fileURLToPath(new URL('../../console/dist/', import.meta.url));

/**
 * Scripts only from this origin, never inline: a job's output that somehow reached the page as
 * markup could not run. Styles are files too; `connect-src 'self'` keeps the token on this API.
 */
export const consoleContentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const contentTypes: Readonly<Record<string, string>> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  ico: 'image/x-icon',
  woff2: 'font/woff2',
  map: 'application/json',
};

// Vite's hashed names: letters, digits, dots, dashes and underscores, one segment, nothing hidden.
const assetName = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,200}$/;

export interface ConsoleRoutesOptions {
  /** The built console (default: console/dist beside the sources). */
  readonly assetsDirectory?: string;
}

const notBuilt = (directory: string) =>
  new ProblemError({
    status: 503,
    code: 'console-not-built',
    title: 'The console has not been built',
    detail: `no console assets in ${directory}: run \`npm run build:console\` (npm ci runs it as prepare)`,
  });

async function readIfExists(path: string): Promise<Buffer<ArrayBuffer> | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * The operators' console: its hashed assets under /console/assets/, and index.html for every other
 * /console path, so a deep link (/console/jobs/<id>) opens the page it names. Files are read per
 * request: a console built after the API started is served without a restart.
 */
export function createConsoleRoutes(options: ConsoleRoutesOptions = {}) {
  const directory = options.assetsDirectory ?? consoleAssetsDirectory;
  const index = async () => {
    const html = await readIfExists(join(directory, 'index.html'));
    if (!html) throw notBuilt(directory);
    return html;
  };
  return new Hono()
    .use(async (c, next) => {
      await next();
      c.header('content-security-policy', consoleContentSecurityPolicy);
    })
    .get('/assets/:file', async (c) => {
      const file = c.req.param('file');
      const type = contentTypes[file.split('.').at(-1) ?? ''];
      if (!assetName.test(file) || type === undefined) return c.notFound();
      const bytes = await readIfExists(join(directory, 'assets', file));
      if (!bytes) {
        await index();
        return c.notFound();
      }
      // Names carry their content hash: a new build gets new names.
      return c.body(bytes, 200, {
        'content-type': type,
        'cache-control': 'public, max-age=31536000, immutable',
      });
    })
    .get('/*', async (c) =>
      c.body(await index(), 200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' }),
    );
}
