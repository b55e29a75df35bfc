import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import type { EventStore } from '../../events/event-store.ts';
import { configSchema } from '../../schemas/config.schema.ts';
import { createApp } from './app.ts';
import { buildOpenApiDocument } from './openapi-document.ts';

const productVersion = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

// Defining the routes reads nothing: these stand in for what only a request would use.
const unusedStore = new Proxy({} as EventStore, {
  get: () => {
    throw new Error('the document-only app has no event store');
  },
});

/**
 * The OpenAPI document of every route `createApp` serves with every optional part configured (the
 * read model, admin routes, metrics), built without a server, a database or any environment: what
 * `npm run generate:client` writes to client/openapi.json.
 */
export function apiDocument(version: string = productVersion) {
  const app = createApp({
    store: unusedStore,
    db: {} as never,
    policy: configSchema.parse({}).sandbox,
    verifyToken: async () => {
      throw new Error('the document-only app verifies no token');
    },
    logger: pino({ level: 'silent' }),
    metricsText: async () => '',
  });
  return buildOpenApiDocument(app, version);
}
