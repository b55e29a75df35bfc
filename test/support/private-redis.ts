import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './private-port.ts';

/** A redis-server a test owns, on its own port, persisting nothing: a restart loses every key. */
export interface PrivateRedis {
  readonly port: number;
  readonly url: string;
  /** The server's run_id (INFO server): it changes when the process is replaced. */
  runId(): Promise<string>;
  /** Keys in the database right now. */
  keyCount(): Promise<number>;
  /** SIGKILLs the server and starts a new one on the same port: every key is gone. */
  restart(downMs?: number): Promise<void>;
  destroy(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function withClient<T>(url: string, run: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
  // A refused connection rejects connect() below; the event would otherwise be printed as unhandled.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await run(client);
  } finally {
    client.disconnect();
  }
}

/** Starts `redis-server` as a child of the test, in the foreground, with no RDB or AOF. */
export async function startPrivateRedis(root: string): Promise<PrivateRedis> {
  const dir = join(root, 'redis');
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess;
  const launch = async () => {
    child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
      ],
      { cwd: dir, stdio: 'ignore' },
    );
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`redis-server on ${port} exited with ${child.exitCode}`);
      const ready = await withClient(url, async (client) => (await client.ping()) === 'PONG').catch(
        () => false,
      );
      if (ready) return;
      if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not answer within 10 s`);
      await sleep(50);
    }
  };
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  };
  await launch();
  return {
    port,
    url,
    runId: () =>
      withClient(url, async (client) => /run_id:(\w+)/.exec(await client.info('server'))?.[1] ?? ''),
    keyCount: () => withClient(url, (client) => client.dbsize()),
    async restart(downMs = 0) {
      await kill();
      await sleep(downMs);
      await launch();
    },
    destroy: kill,
  };
}
