import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.ts';
import { freePort } from '../support/private-port.ts';
import { testServerUrl } from '../support/test-database.ts';
import { ensureTestImage, testImage } from '../support/test-image.ts';

// The README's quick start, as a newcomer runs it: `npm start` on a database that does not exist
// yet, the curl line it prints, then its admin token with `omni events tail`.

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const database = `omni_test_quick_start_${randomBytes(4).toString('hex')}`;
const prefix = `quick-start-${randomBytes(4).toString('hex')}`;
let server: ChildProcess;
const output: string[] = [];
let port: number;

async function dropDatabase() {
  const client = new pg.Client({ connectionString: `${testServerUrl}/postgres` });
  await client.connect();
  try {
    await client.query(`drop database if exists ${database} with (force)`);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  await ensureTestImage();
  port = await freePort();
  server = spawn('npm', ['start', '--silent'], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      DATABASE_URL: `${testServerUrl}/${database}`,
      PORT: String(port),
      QUEUE_PREFIX: prefix,
      SANDBOX_IMAGES: testImage,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: npm does not pass SIGTERM on to node, so the group is signalled.
    detached: true,
  });
  for (const stream of [server.stdout, server.stderr])
    stream?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
}, 60_000);

afterAll(async () => {
  if (server?.pid !== undefined && server.exitCode === null) {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    process.kill(-server.pid, 'SIGTERM');
    await exited;
    // npm may exit before node has drained: wait until nothing of the group is left.
    for (let tries = 0; tries < 100; tries += 1) {
      try {
        process.kill(-server.pid, 0);
      } catch {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  for (const container of await docker.listContainers({
    all: true,
    filters: { label: [`omni.deployment=${prefix}`] },
  }))
    await docker
      .getContainer(container.Id)
      .remove({ force: true })
      .catch(() => undefined);
  await dropDatabase();
});

const printed = () => output.join('');

describe('the quick start', () => {
  it('npm start creates the database, prints a curl line that submits a job, and an admin token the CLI takes', async () => {
    const banner = await eventually(
      async () => printed(),
      (text) => /omni events tail/.test(text),
      60_000,
    );
    expect(banner, banner).toMatch(/omni events tail/);
    const token = /export TOKEN=(\S+)/.exec(banner)?.[1];
    const admin = /export OMNI_URL=(\S+) OMNI_TOKEN=(\S+)/.exec(banner);
    const curl = banner.split('\n').find((line) => line.trim().startsWith('curl -s -X POST'));
    expect(token).toBeDefined();
    expect(admin?.[1]).toBe(`http://127.0.0.1:${port}`);
    expect(curl).toBeDefined();

    // The printed curl line, run by a shell as a reader would paste it.
    const submitted = await run('sh', ['-c', curl?.trim() ?? ''], {
      env: { ...process.env, TOKEN: token },
      timeout: 20_000,
    });
    const { id } = JSON.parse(submitted.stdout) as { id: string };
    const job = await eventually(
      async () =>
        (await (
          await fetch(`http://127.0.0.1:${port}/v1/jobs/${id}`, {
            headers: { authorization: `Bearer ${token}` },
          })
        ).json()) as { status: string; stdout: string | null },
      (view) => view.status === 'succeeded' || view.status === 'failed',
      30_000,
    );
    expect(job).toMatchObject({ status: 'succeeded', stdout: 'hello\n' });

    // The admin token: the client token is refused the global log, the admin one reads it.
    const tail = (omniToken: string) =>
      run(process.execPath, ['services/main.ts', 'events', 'tail', '--limit', '3', '--json'], {
        cwd: root,
        timeout: 20_000,
        env: { PATH: process.env.PATH ?? '', OMNI_URL: admin?.[1] ?? '', OMNI_TOKEN: omniToken },
      });
    await expect(tail(token ?? '')).rejects.toMatchObject({ code: expect.any(Number) });
    const { stdout } = await tail(admin?.[2] ?? '');
    const types = stdout
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { type: string }).type);
    expect(types).toContain('JobSubmitted');
  }, 120_000);
});
