import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServedApp, serveApp } from '../../services/api/serve.ts';
import { testImage } from '../support/test-image.ts';
import { startTestStack, type TestStack, testSecret } from '../support/test-stack.ts';

const run = promisify(execFile);
const omni = fileURLToPath(new URL('../../services/main.ts', import.meta.url));

let stack: TestStack;
let server: ServedApp;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  stack = await startTestStack('cli');
  server = await serveApp(stack.app, { port: 0, host: '127.0.0.1' });
  env = {
    PATH: process.env.PATH,
    DATABASE_URL: stack.database.url,
    JWT_SECRET: testSecret,
    OMNI_URL: server.url,
    NO_COLOR: '1',
  };
  env.OMNI_TOKEN = (
    await run(process.execPath, [omni, 'token', 'cli-user', 'default', '--admin'], { env })
  ).stdout.trim();
});
afterAll(async () => {
  await server?.close();
  await stack?.stop();
});

const omniCli = (...args: string[]) => run(process.execPath, [omni, ...args], { env, timeout: 60_000 });

describe('omni CLI', () => {
  it('token prints a token the API accepts', async () => {
    const response = await fetch(`${server.url}/v1/secrets`, {
      headers: { authorization: `Bearer ${env.OMNI_TOKEN}` },
    });
    expect(response.status).toBe(200);
  });

  it('submit --wait --json follows the job and exits with its exit code', async () => {
    const failed = await omniCli(
      'submit',
      '--wait',
      '--json',
      testImage,
      '--',
      'sh',
      '-c',
      'echo from-cli; exit 4',
    ).catch((error: { code: number; stdout: string }) => error);
    expect((failed as { code: number }).code).toBe(4);
    const lines = (failed as { stdout: string }).stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines.map((line) => line.type).filter(Boolean)).toEqual(
      expect.arrayContaining(['JobSubmitted', 'JobStarted', 'JobFailed']),
    );
    expect(lines.at(-1)).toMatchObject({ status: 'failed', exitCode: 4, stdout: 'from-cli\n' });

    const ok = await omniCli('submit', '--wait', testImage, '--', 'echo', 'fine');
    expect(ok.stdout).toMatch(/JobSucceeded/);
    expect(ok.stdout).toMatch(/succeeded \(exit 0\)\n$/);
  });

  it('watch replays a finished job and exits 0 when it succeeded', async () => {
    const { stdout } = await omniCli('submit', '--json', testImage, '--', 'true');
    const { id } = JSON.parse(stdout) as { id: string };
    const watched = await omniCli('watch', id);
    expect(watched.stdout).toMatch(/JobSubmitted[\s\S]*JobSucceeded/);
  });

  it('events tail --json prints the global log as JSON lines', async () => {
    const { stdout } = await omniCli('events', 'tail', '--json', '--limit', '3');
    const events = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; cursor: string });
    expect(events).toHaveLength(3);
    expect(events[0]?.type).toBe('JobSubmitted');
    expect(new Set(events.map((event) => event.cursor)).size).toBe(3);
  });

  it('files upload, submit with --input and --output, then artifacts download, byte for byte', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'omni-cli-files-'));
    try {
      await writeFile(join(directory, 'words.txt'), 'one two\nthree\n');
      const uploaded = JSON.parse(
        (await omniCli('files', 'upload', join(directory, 'words.txt'), '--json')).stdout,
      ) as { id: string; size: number };
      expect(uploaded.size).toBe(14);
      const submitted = await omniCli(
        'submit',
        '--json',
        '--input',
        `${uploaded.id}:/tmp/in/words.txt`,
        '--output',
        '/out/*.txt',
        testImage,
        '--',
        'sh',
        '-c',
        'wc -w < /tmp/in/words.txt > /out/count.txt',
      );
      const { id } = JSON.parse(submitted.stdout) as { id: string };
      await omniCli('watch', id);
      const downloaded = await omniCli(
        'artifacts',
        'download',
        id as string,
        '--dir',
        join(directory, 'got'),
      );
      expect(downloaded.stdout).toContain('✓ /out/count.txt');
      expect((await readFile(join(directory, 'got', 'count.txt'), 'utf8')).trim()).toBe('3');
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('verify and replay report in JSON for scripts', async () => {
    const verified = JSON.parse((await omniCli('verify', '--json')).stdout) as {
      ok: boolean;
      eventsChecked: number;
    };
    expect(verified.ok).toBe(true);
    expect(verified.eventsChecked).toBeGreaterThan(5);
    const replayed = JSON.parse((await omniCli('replay', 'jobs', '--json')).stdout) as {
      ok: boolean;
      events: number;
    };
    expect(replayed).toMatchObject({ ok: true });
  });

  it('migrate is idempotent, and unknown commands exit 2 with usage', async () => {
    expect((await omniCli('migrate', '--json')).stdout).toBe('{"applied":[]}\n');
    const unknown = await omniCli('frobnicate').catch((error: { code: number; stderr: string }) => error);
    expect((unknown as { code: number }).code).toBe(2);
    expect((unknown as { stderr: string }).stderr).toMatch(/usage: omni/);
  });
});
