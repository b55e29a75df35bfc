import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { serve } from '@hono/node-server';
import type { Worker } from 'bullmq';
import type Docker from 'dockerode';
import { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { JSONWebKeySet } from 'jose';
import { createEventStore, type EventStore } from '../events/event-store.ts';
import type { Database } from '../events/tables.ts';
import { startDispatcher } from '../workers/dispatcher.ts';
import { startExecutorWorker } from '../workers/executor-worker.ts';
import { createJobQueue } from '../workers/job-queue.ts';
import { createRunJobProcessor } from '../workers/run-job.processor.ts';
import { createDockerSandbox } from '../workers/sandbox/docker-sandbox.ts';
import { createApp } from './api/app.ts';
import { createTokenVerifier } from './api/token-verifier.ts';
import type { Config } from './config.ts';
import { createSecretVault, type SecretVault } from './secrets/secret-vault.ts';

export interface RoleDeps {
  readonly config: Config;
  readonly db: Kysely<Database>;
  readonly docker: Docker;
  readonly logger: Logger;
  /** The HS256 secret in force (configured or generated for development). */
  readonly jwtSecret: string;
}

/** A started role; `stop` drains it. */
export interface RunningRole {
  readonly name: string;
  stop(): Promise<void>;
}

/** The secret vault, when the operator configured keys to seal secrets with. */
function secretVaultFor(deps: RoleDeps, store: EventStore): SecretVault | undefined {
  return deps.config.secretKeys.length > 0 ? createSecretVault(deps.db, store, deps.config.secretKeys) : undefined;
}

// BullMQ's blocking commands must wait forever rather than fail after a retry count.
const redisFor = (url: string) => new Redis(url, { maxRetriesPerRequest: null });

export async function startApiRole(deps: RoleDeps): Promise<RunningRole & { readonly url: string }> {
  const { auth } = deps.config;
  const store = createEventStore(deps.db);
  const redis = redisFor(deps.config.redisUrl);
  const secrets = secretVaultFor(deps, store);
  const app = createApp({
    store,
    policy: deps.config.sandbox,
    verifyToken: createTokenVerifier({
      secret: new TextEncoder().encode(deps.jwtSecret),
      ...(auth.jwks ? { jwks: auth.jwks as unknown as JSONWebKeySet } : {}),
      ...(auth.jwksUrl ? { jwksUrl: auth.jwksUrl } : {}),
      ...(auth.issuer === undefined ? {} : { issuer: auth.issuer }),
      ...(auth.audience === undefined ? {} : { audience: auth.audience }),
      clockToleranceSeconds: auth.clockToleranceSeconds,
      tenantClaim: auth.tenantClaim,
    }),
    logger: deps.logger.child({ role: 'api' }),
    ...(secrets ? { secrets } : {}),
    rateLimit: { redis, keyPrefix: deps.config.queuePrefix, ...deps.config.rateLimit },
    corsOrigins: deps.config.corsOrigins,
    maxBodyBytes: deps.config.maxBodyBytes,
    requestTimeoutMs: deps.config.requestTimeoutMs,
  });
  const { port, host } = deps.config.http;
  const { server, address } = await new Promise<{ server: ReturnType<typeof serve>; address: { port: number } }>((resolve, reject) => {
    const started = serve({ fetch: app.fetch, port, hostname: host }, (info) => resolve({ server: started, address: info }));
    started.once('error', reject);
  });
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  return {
    name: 'api',
    url,
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      redis.disconnect();
    },
  };
}

export async function startDispatcherRole(deps: RoleDeps): Promise<RunningRole> {
  const connection = redisFor(deps.config.redisUrl);
  const queue = createJobQueue({ connection, prefix: deps.config.queuePrefix });
  const dispatcher = await startDispatcher({
    db: deps.db,
    connectionString: deps.config.databaseUrl,
    queue,
    logger: deps.logger.child({ role: 'dispatcher' }),
  });
  return {
    name: 'dispatcher',
    async stop() {
      await dispatcher.stop();
      await queue.close();
      connection.disconnect();
    },
  };
}

export async function startWorkerRole(deps: RoleDeps): Promise<RunningRole & { readonly workerId: string }> {
  const workerId = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const connection = redisFor(deps.config.redisUrl);
  const logger = deps.logger.child({ role: 'worker', workerId });
  const store = createEventStore(deps.db);
  const secrets = secretVaultFor(deps, store);
  const process_ = createRunJobProcessor({
    ...(secrets ? { secrets } : {}),
    store,
    sandbox: createDockerSandbox({ docker: deps.docker, policy: deps.config.sandbox }),
    workerId,
    logger,
  });
  const worker: Worker = startExecutorWorker({
    connection,
    prefix: deps.config.queuePrefix,
    concurrency: deps.config.workerConcurrency,
    process: process_,
  });
  worker.on('failed', (job, error) => logger.error({ err: error, messageId: job?.id }, 'attempt processing failed'));
  return {
    name: 'worker',
    workerId,
    async stop() {
      await worker.close();
      connection.disconnect();
    },
  };
}
