import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './private-port.ts';

const execFileAsync = promisify(execFile);
const bin = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** A Postgres cluster a test owns: its own data directory, port and socket, so it may be stopped. */
export interface PrivatePostgres {
  readonly port: number;
  /** `postgres://postgres@127.0.0.1:<port>/<database>` (trust auth). */
  url(database: string): string;
  /** When the postmaster last started: proof that a restart really happened. */
  startTime(): Promise<string>;
  /** Whether the server accepts connections right now (`pg_isready`). */
  isReady(): Promise<boolean>;
  /** `pg_ctl restart -m fast`: sessions are cut, the server is back within about a second. */
  restartFast(): Promise<void>;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server (immediately) and removes its directory. */
  destroy(): Promise<void>;
}

/**
 * Initdb refuses to run as root, so under root the cluster belongs to the `postgres` OS user
 * (runuser) and lives in a directory it owns.
 */
async function asOwner(command: string, args: readonly string[]): Promise<string> {
  const runAsRoot = process.getuid?.() === 0;
  const [file, fileArgs] = runAsRoot
    ? ['runuser', ['-u', 'postgres', '--', join(bin, command), ...args]]
    : [join(bin, command), [...args]];
  const { stdout } = await execFileAsync(file, fileArgs, { timeout: 60_000 });
  return stdout;
}

async function ownerIds(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const { stdout } = await execFileAsync('id', ['postgres']);
  const uid = Number(/uid=(\d+)/.exec(stdout)?.[1]);
  const gid = Number(/gid=(\d+)/.exec(stdout)?.[1]);
  return { uid, gid };
}

/** Creates and starts a cluster under `<root>/pg` on a free port, trust auth, fsync off. */
export async function startPrivatePostgres(root: string): Promise<PrivatePostgres> {
  const dir = join(root, 'pg');
  const data = join(dir, 'data');
  await mkdir(dir, { recursive: true });
  const ids = await ownerIds();
  if (ids) {
    // The postgres user must reach its directory through the test's (mkdtemp: 0700) root.
    await chmod(root, 0o755);
    await chown(dir, ids.uid, ids.gid);
  }
  await asOwner('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  const options = [
    `-p ${port}`,
    `-k ${dir}`,
    '-c listen_addresses=127.0.0.1',
    // Nothing here must survive a crash of the machine; fsync only slows the test down.
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c max_connections=300',
  ].join(' ');
  const start = () =>
    asOwner('pg_ctl', ['start', '-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60', '-o', options]);
  await start();
  const url = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  return {
    port,
    url,
    async startTime() {
      const client = new pg.Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        const { rows } = await client.query<{ t: string }>('select pg_postmaster_start_time()::text as t');
        return rows[0]?.t ?? '';
      } finally {
        await client.end();
      }
    },
    async isReady() {
      try {
        await execFileAsync(join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-t', '1']);
        return true;
      } catch {
        return false;
      }
    },
    async restartFast() {
      await asOwner('pg_ctl', [
        'restart',
        '-D',
        data,
        '-m',
        'fast',
        '-l',
        join(dir, 'server.log'),
        '-w',
        '-t',
        '60',
        '-o',
        options,
      ]);
    },
    async stop() {
      await asOwner('pg_ctl', ['stop', '-D', data, '-m', 'fast', '-w', '-t', '60']);
    },
    async start() {
      await start();
    },
    async destroy() {
      await asOwner('pg_ctl', ['stop', '-D', data, '-m', 'immediate', '-w', '-t', '30']).catch(
        () => undefined,
      );
      await rm(dir, { recursive: true, force: true });
    },
  };
}
