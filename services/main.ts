#!/usr/bin/env node
import { migrateToLatest } from '../events/migrator.ts';
import { createDatabase } from '../events/database.ts';
import { ConfigError, loadConfig } from './config.ts';
import { clientScopes, generateDevSecret, mintToken } from './dev-token.ts';
import { createDockerClient } from './docker-client.ts';
import { ensureDatabase } from './ensure-database.ts';
import { createLogger } from './logger.ts';
import { type Dependency, checkDependencies } from './preflight.ts';
import { type RunningRole, startApiRole, startDispatcherRole, startWorkerRole } from './roles.ts';

const usage = `usage: omni <command>

  all          migrate, then run the API, dispatcher and worker in one process (what \`npm start\` does)
  api          run the HTTP API
  dispatcher   follow the event log and enqueue attempts
  worker       run queued attempts in Docker sandboxes
  migrate      apply database migrations and exit
  token [sub] [tenant] [--admin]
               print a bearer token signed with JWT_SECRET (client scopes; --admin adds admin)
`;

const needsByCommand: Record<string, readonly Dependency[]> = {
  all: ['postgres', 'redis', 'docker'],
  api: ['postgres'],
  dispatcher: ['postgres', 'redis'],
  worker: ['postgres', 'redis', 'docker'],
  migrate: ['postgres'],
};

async function main(argv: readonly string[]): Promise<number> {
  const command = argv[0] ?? 'all';
  if (command === '--help' || command === 'help') {
    process.stdout.write(usage);
    return 0;
  }
  const config = loadConfig(process.env);

  if (command === 'token') {
    if (!config.auth.jwtSecret) {
      process.stderr.write('JWT_SECRET is not set: there is no key to sign with\n');
      return 2;
    }
    const positional = argv.slice(1).filter((arg) => !arg.startsWith('--'));
    const token = await mintToken({
      secret: config.auth.jwtSecret,
      subject: positional[0] ?? 'dev-user',
      tenant: positional[1] ?? 'default',
      ...(argv.includes('--admin') ? { scopes: [...clientScopes, 'admin'] } : {}),
      ...(config.auth.issuer === undefined ? {} : { issuer: config.auth.issuer }),
      ...(config.auth.audience === undefined ? {} : { audience: config.auth.audience }),
    });
    process.stdout.write(`${token}\n`);
    return 0;
  }
  const needs = needsByCommand[command];
  if (!needs) {
    process.stderr.write(`unknown command: ${command}\n\n${usage}`);
    return 2;
  }

  const logger = createLogger(config.logLevel, { role: command });
  const docker = createDockerClient(config.dockerHost);
  const failures = await checkDependencies(config, new Set(needs), docker);
  if (failures.length > 0) {
    for (const failure of failures) {
      process.stderr.write(`✗ ${failure.dependency} is not reachable at ${failure.where}: ${failure.reason}\n  → ${failure.hint}\n`);
    }
    return 1;
  }

  await ensureDatabase(config.databaseUrl);
  const db = createDatabase({ connectionString: config.databaseUrl, applicationName: `omni-${command}` });
  if (command === 'all' || command === 'migrate') {
    const applied = await migrateToLatest(db);
    logger.info({ applied }, 'migrations are current');
    if (command === 'migrate') {
      await db.destroy();
      return 0;
    }
  }

  let jwtSecret = config.auth.jwtSecret;
  const generatedSecret = jwtSecret === undefined;
  if (jwtSecret === undefined) jwtSecret = generateDevSecret();
  const deps = { config, db, docker, logger, jwtSecret };

  const roles: RunningRole[] = [];
  if (command === 'all' || command === 'api') {
    const api = await startApiRole(deps);
    roles.push(api);
    logger.info({ url: api.url }, 'API listening');
    if (generatedSecret) await printDevelopmentBanner(api.url, jwtSecret, config.sandbox.allowedImages[0] ?? 'IMAGE');
  }
  if (command === 'all' || command === 'dispatcher') roles.push(await startDispatcherRole(deps));
  if (command === 'all' || command === 'worker') roles.push(await startWorkerRole(deps));

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  logger.info('shutting down');
  // Stop taking work first (API, then dispatcher), then let workers drain.
  for (const role of roles) await role.stop();
  await db.destroy();
  return 0;
}

async function printDevelopmentBanner(url: string, secret: string, image: string): Promise<void> {
  const token = await mintToken({ secret, subject: 'dev-user', ttlSeconds: 24 * 3600 });
  const body = JSON.stringify({ image, command: ['echo', 'hello'] });
  process.stdout.write(`
omni is running at ${url}
No JWT_SECRET is set, so a development key was generated for this process only. A token (24 h):

  export TOKEN=${token}

Submit a job:

  curl -s -X POST ${url}/v1/jobs -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '${body}'

Then read it:  curl -s ${url}/v1/jobs/<id> -H "authorization: Bearer $TOKEN"

`);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`omni failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
