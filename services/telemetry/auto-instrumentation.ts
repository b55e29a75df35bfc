import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import type { AutoInstrumentation } from '../../schemas/config.schema.ts';

// Probes and scrapes would each start a trace of their own, every few seconds, forever.
const unTracedPaths = new Set(['/healthz', '/readyz', '/metrics']);

const require = createRequire(import.meta.url);

/**
 * The instrumentation and the CommonJS modules whose exports it patches. Our code imports these
 * libraries as ES modules, which the instrumentations' `require` hook never sees (pg happens to be
 * patched anyway through its internal `require`s, ioredis is not), and an ESM loader hook would
 * have to be registered before the first import, i.e. with `node --import`, which `npm start` and
 * the `omni` bin cannot pass. Requiring the modules once the instrumentation is enabled runs its
 * patch on the same module objects the ESM imports share (prototypes of `Client`, `Pool`, `Redis`,
 * `Server`), whatever was loaded first.
 */
function instrumentationFor(name: AutoInstrumentation) {
  switch (name) {
    case 'http':
      return {
        instrumentation: new HttpInstrumentation({
          enabled: false,
          ignoreIncomingRequestHook: (request: IncomingMessage) =>
            unTracedPaths.has((request.url ?? '').split('?')[0] ?? ''),
          // Docker engine calls are worth a span inside a job's trace; the reaper's and lease
          // loop's calls outside one are not.
          requireParentforOutgoingSpans: true,
        }),
        modules: ['node:http', 'node:https'],
      };
    case 'pg':
      return {
        // Subscriptions, leases and LISTEN sessions query in loops outside any trace; only queries
        // made for a traced operation are worth a span. Parameters are never recorded (job data).
        // A span per pool checkout would double the count for little: a wait shows as a gap.
        instrumentation: new PgInstrumentation({
          enabled: false,
          requireParentSpan: true,
          ignoreConnectSpans: true,
        }),
        modules: ['pg', createRequire(require.resolve('pg')).resolve('pg-pool')],
      };
    case 'ioredis':
      return {
        // BullMQ polls and renews locks all the time; keep the commands a traced operation makes.
        instrumentation: new IORedisInstrumentation({ enabled: false, requireParentSpan: true }),
        modules: ['ioredis'],
      };
    default: {
      const unknown: never = name;
      throw new Error(`unknown instrumentation ${String(unknown)}`);
    }
  }
}

/**
 * The instrumentations for the named libraries, for the SDK to enable on its providers, and a
 * step to run once it has: requiring the modules so the patches reach the ESM imports too.
 */
export function autoInstrumentation(names: readonly AutoInstrumentation[]): {
  readonly instrumentations: readonly ReturnType<typeof instrumentationFor>['instrumentation'][];
  patchLoadedModules(): void;
} {
  const chosen = [...new Set(names)].map(instrumentationFor);
  return {
    instrumentations: chosen.map(({ instrumentation }) => instrumentation),
    patchLoadedModules() {
      for (const { modules } of chosen) for (const module of modules) require(module);
    },
  };
}
