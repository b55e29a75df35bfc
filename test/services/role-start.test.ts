import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { migrateToLatest } from '../../events/migrator.ts';
import { freePort } from '../support/private-port.ts';
import { type RoleProcess, startRoleProcess } from '../support/role-process.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { testImage } from '../support/test-image.ts';

// A role run on its own (compose, systemd) that starts while its servers are down waits for them,
// logging JSON lines that say what it waits for, and starts once they answer: a host reboot brings
// everything up at once, and a role that exited would be restarted in a loop.

let database: TestDatabase;
let dir: string;
const processes: RoleProcess[] = [];
const servers: net.Server[] = [];

beforeAll(async () => {
  database = await createTestDatabase('role_start');
  await migrateToLatest(database.db);
  dir = await mkdtemp(join(tmpdir(), 'omni-role-start-'));
});
afterAll(async () => {
  for (const role of processes) await role.kill();
  for (const server of servers) server.close();
  await database?.destroy();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A proxy that, once listening, forwards to `target`: the server "comes up" when it listens. */
function proxyTo(target: net.NetConnectOpts): net.Server {
  const server = net.createServer((client) => {
    const upstream = net.connect(target);
    for (const socket of [client, upstream]) socket.on('error', () => socket.destroy());
    client.pipe(upstream).pipe(client);
  });
  servers.push(server);
  return server;
}

const parses = (line: string) => {
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
};

it('a worker started while Redis and the Docker engine are down waits, logging JSON, and takes work once they answer', async () => {
  const redisPort = await freePort();
  const dockerSocket = join(dir, 'docker.sock');
  const worker = startRoleProcess('worker', {
    DATABASE_URL: database.url,
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    DOCKER_HOST: `unix://${dockerSocket}`,
    QUEUE_PREFIX: `test-${randomUUID()}`,
    SANDBOX_IMAGES: testImage,
    LOG_LEVEL: 'info',
  });
  processes.push(worker);
  await worker.waitFor(/waiting for redis at .*REDIS_URL/, 30_000);
  await worker.waitFor(/waiting for docker at .*DOCKER_HOST/, 30_000);
  // Still waiting a few seconds later, not exited and restarted.
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  expect(worker.child.exitCode, worker.lines.join('\n')).toBeNull();

  await new Promise<void>((resolve) =>
    proxyTo({ host: '127.0.0.1', port: 6379 }).listen(redisPort, '127.0.0.1', resolve),
  );
  await new Promise<void>((resolve) =>
    proxyTo({ path: '/var/run/docker.sock' }).listen(dockerSocket, resolve),
  );
  await worker.waitFor(/worker is taking work/, 30_000);
  expect(worker.child.exitCode).toBeNull();
  expect(worker.lines.filter((line) => !parses(line))).toEqual([]);
});

it('a dispatcher started while Postgres is unreachable waits, then becomes active once it answers', async () => {
  const pgPort = await freePort();
  const url = new URL(database.url);
  url.port = String(pgPort);
  const dispatcher = startRoleProcess('dispatcher', {
    DATABASE_URL: url.toString(),
    REDIS_URL: 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: `test-${randomUUID()}`,
    SANDBOX_IMAGES: testImage,
    LOG_LEVEL: 'info',
  });
  processes.push(dispatcher);
  await dispatcher.waitFor(/waiting for postgres at .*DATABASE_URL/, 30_000);
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  expect(dispatcher.child.exitCode, dispatcher.lines.join('\n')).toBeNull();

  await new Promise<void>((resolve) =>
    proxyTo({ host: '127.0.0.1', port: 5432 }).listen(pgPort, '127.0.0.1', resolve),
  );
  await dispatcher.waitFor(/this dispatcher is now the active one/, 30_000);
  expect(dispatcher.child.exitCode).toBeNull();
  expect(dispatcher.lines.filter((line) => !parses(line))).toEqual([]);
});
