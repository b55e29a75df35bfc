import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { consoleAssetsDirectory } from '../../services/api/console.routes.ts';
import { type ServedApp, serveApp } from '../../services/api/serve.ts';
import type { TestStack } from './test-stack.ts';

/** Debian's Chromium: playwright cannot download a browser build on these machines. */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/**
 * The test stack's API (console included) on a private port of its own. The console must have
 * been built (`npm run build:console`, which npm ci runs): a test of a stale or missing build says so.
 */
export async function serveConsole(stack: TestStack): Promise<ServedApp> {
  if (!existsSync(join(consoleAssetsDirectory, 'index.html')))
    throw new Error(`the console is not built in ${consoleAssetsDirectory}: run npm run build:console`);
  return serveApp(stack.app, { port: 0, host: '127.0.0.1' });
}
