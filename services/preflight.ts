import type Docker from 'dockerode';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { Config } from './config.ts';
import { describeDockerHost } from './docker-client.ts';

export type Dependency = 'postgres' | 'redis' | 'docker';

export interface DependencyFailure {
  readonly dependency: Dependency;
  readonly where: string;
  readonly reason: string;
  readonly hint: string;
}

const redactPassword = (url: string) => url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
const reasonOf = (error: unknown) => (error instanceof Error ? error.message || error.name : String(error));

async function checkPostgres(config: Config): Promise<DependencyFailure | undefined> {
  const url = new URL(config.databaseUrl);
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 3000 });
  // A session the server drops emits 'error' besides failing the awaited call; unheard, it would crash.
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (error) {
    return {
      dependency: 'postgres',
      where: redactPassword(config.databaseUrl),
      reason: reasonOf(error),
      hint: 'start it with `docker compose up -d postgres` (or your system service), or set DATABASE_URL',
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function checkRedis(config: Config): Promise<DependencyFailure | undefined> {
  const redis = new Redis(config.redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 3000,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
    return undefined;
  } catch (error) {
    return {
      dependency: 'redis',
      where: redactPassword(config.redisUrl),
      reason: reasonOf(error),
      hint: 'start it with `docker compose up -d redis` (or `redis-server --daemonize yes`), or set REDIS_URL',
    };
  } finally {
    redis.disconnect();
  }
}

async function checkDocker(config: Config, docker: Docker): Promise<DependencyFailure | undefined> {
  try {
    await docker.ping();
    return undefined;
  } catch (error) {
    return {
      dependency: 'docker',
      where: describeDockerHost(config.dockerHost),
      reason: reasonOf(error),
      hint: 'start the Docker engine (`dockerd` or `systemctl start docker`), or set DOCKER_HOST',
    };
  }
}

/** Checks each server a role needs, all at once, so the operator sees every problem in one go. */
export async function checkDependencies(
  config: Config,
  needs: ReadonlySet<Dependency>,
  docker: Docker,
): Promise<readonly DependencyFailure[]> {
  const checks = [
    needs.has('postgres') ? checkPostgres(config) : undefined,
    needs.has('redis') ? checkRedis(config) : undefined,
    needs.has('docker') ? checkDocker(config, docker) : undefined,
  ];
  const results = await Promise.all(checks);
  return results.filter((failure): failure is DependencyFailure => failure !== undefined);
}
