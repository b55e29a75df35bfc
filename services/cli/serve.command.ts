import { createDatabase } from '../../events/database.ts';
import { isDatabaseUnavailable } from '../../events/database-errors.ts';
import { migrateToLatest } from '../../events/migrator.ts';
import type { Config } from '../config.ts';
import { hs256KeyFor } from '../dev-token.ts';
import { developmentBanner } from '../development-banner.ts';
import { createDockerClient } from '../docker-client.ts';
import { ensureDatabase } from '../ensure-database.ts';
import { createFaultLog, createLogger } from '../logger.ts';
import { serveMetrics } from '../metrics-server.ts';
import { checkDependencies, type Dependency } from '../preflight.ts';
import { installProcessFaultHandlers } from '../process-faults.ts';
import {
  type RunningRole,
  startApiRole,
  startDispatcherRole,
  startProjectorRole,
  startWebhooksRole,
  startWorkerRole,
} from '../roles.ts';
import { startTelemetry } from '../telemetry/telemetry.ts';
import { waitForDependencies } from '../wait-for-dependencies.ts';
import { waitForSchema } from '../wait-for-schema.ts';
import { needs, type ServeRole } from './serve-roles.ts';

/** Checks the servers a command needs and prints, for each missing one, where it looked and how to start it. */
export async function preflight(
  config: Config,
  required: readonly Dependency[],
  err: { write(text: string): unknown },
): Promise<boolean> {
  const failures = await checkDependencies(config, new Set(required), createDockerClient(config.dockerHost));
  for (const failure of failures) {
    err.write(
      `✗ ${failure.dependency} is not reachable at ${failure.where}: ${failure.reason}\n  → ${failure.hint}\n`,
    );
  }
  return failures.length === 0;
}

/**
 * Runs one role (or all of them) until SIGINT/SIGTERM, then stops them in order: the API and
 * dispatcher stop taking work first, then workers drain.
 */
export async function runServe(
  role: ServeRole,
  config: Config,
  out: { write(text: string): unknown },
  err: { write(text: string): unknown },
): Promise<number> {
  // `npm start` (all roles, a person at a terminal) says what is missing and stops; a role run on
  // its own is supervised, so it waits for its servers and logs (as JSON) what it waits for.
  if (role === 'all' && !(await preflight(config, needs[role], err))) return 1;
  const logger = createLogger(config.logLevel, { role });
  installProcessFaultHandlers(logger);
  const docker = createDockerClient(config.dockerHost);
  const stopping = new AbortController();
  const stopSignal = new Promise<void>((resolve) => {
    const stop = () => {
      stopping.abort();
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  const dependenciesAnswer = () =>
    waitForDependencies(config, needs[role], docker, logger, { signal: stopping.signal });
  if (role !== 'all' && !(await dependenciesAnswer())) return 0;
  await ensureDatabase(config.databaseUrl);
  const db = createDatabase({
    connectionString: config.databaseUrl,
    applicationName: `omni-${role}`,
    onIdleConnectionError: createFaultLog(logger)(
      'postgres',
      'a database connection closed (Postgres restarted or ended the session); the pool reconnects',
    ),
  });
  if (role === 'all') logger.info({ applied: await migrateToLatest(db) }, 'migrations are current');
  else if (!(await waitForSchema(db, logger, { signal: stopping.signal }))) {
    await db.destroy();
    return 0;
  }

  const hs256 = hs256KeyFor(config.auth);
  const telemetry = startTelemetry({
    serviceName: `omni-${role}`,
    ...(config.otlpEndpoint === undefined ? {} : { otlpEndpoint: config.otlpEndpoint }),
    autoInstrument: config.autoInstrument,
  });
  const deps = { config, db, docker, logger, telemetry, ...(hs256 ? { jwtSecret: hs256.secret } : {}) };

  const roles: RunningRole[] = [];
  for (;;) {
    try {
      await startRoles();
      break;
    } catch (error) {
      for (const running of roles.splice(0)) await running.stop().catch(() => undefined);
      // A server that went away while the role started is an outage, not a defect: wait for it and
      // start again (a role run alone); anything else is one JSON line saying why, and exit 1.
      if (role !== 'all' && isDatabaseUnavailable(error)) {
        logger.warn(
          { err: error },
          `the ${role} role could not start: Postgres became unreachable; waiting for it`,
        );
        if (await dependenciesAnswer()) continue;
        await db.destroy().catch(() => undefined);
        return 0;
      }
      logger.fatal({ err: error }, `the ${role} role could not start`);
      await db.destroy().catch(() => undefined);
      return 1;
    }
  }

  await stopSignal;
  logger.info('shutting down');
  for (const running of roles) await running.stop();
  await db.destroy();
  await telemetry.shutdown();
  return 0;

  async function startRoles() {
    if (role === 'all' || role === 'api') {
      const api = await startApiRole(deps);
      roles.push(api);
      logger.info({ url: api.url }, 'API listening');
      if (hs256?.generated)
        out.write(
          await developmentBanner({
            url: api.url,
            secret: hs256.secret,
            image: config.sandbox.allowedImages[0] ?? 'IMAGE',
            maxTokenAgeSeconds: config.auth.maxTokenAgeSeconds,
          }),
        );
    } else if (config.metrics) {
      // Without the API in this process, its metrics (queue depth, sandbox runs, deliveries) are
      // served here, for the collector to scrape.
      const metrics = await serveMetrics(telemetry, config.metrics);
      roles.push({ name: 'metrics', stop: () => metrics.close() });
      logger.info({ url: `${metrics.url}/metrics` }, 'metrics listening');
    }
    if (role === 'projector') roles.push(await startProjectorRole(deps));
    if (role === 'all' || role === 'dispatcher') roles.push(await startDispatcherRole(deps));
    if (role === 'all' || role === 'worker') roles.push(await startWorkerRole(deps));
    if (role === 'all' || role === 'webhooks') roles.push(await startWebhooksRole(deps));
  }
}
