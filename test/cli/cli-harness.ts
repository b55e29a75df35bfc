import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type ServedApp, serveApp } from '../../services/api/serve.ts';
import { ensureTestImage } from '../support/test-image.ts';
import { startTestStack, type TestStack, testSecret } from '../support/test-stack.ts';

/** The checkout's `omni` entry point: the bin, as a user runs it. */
export const omniBin = fileURLToPath(new URL('../../bin/omni.js', import.meta.url));

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to its end (never throws on a non-zero exit), optionally through a shell. */
export function runProcess(
  command: string,
  args: readonly string[],
  options: { env: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number },
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: options.env,
      ...(options.cwd ? { cwd: options.cwd } : {}),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** A test stack served on a port, and `omni` run as a process against it with an admin token. */
export interface CliStack {
  readonly stack: TestStack;
  readonly server: ServedApp;
  readonly env: NodeJS.ProcessEnv;
  omni(args: readonly string[], options?: { env?: NodeJS.ProcessEnv; input?: string }): Promise<CliRun>;
  stop(): Promise<void>;
}

export async function startCliStack(label: string): Promise<CliStack> {
  await ensureTestImage();
  const stack = await startTestStack(label);
  const server = await serveApp(stack.app, { port: 0, host: '127.0.0.1' });
  const base: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: stack.database.url,
    JWT_SECRET: testSecret,
    OMNI_URL: server.url,
    NO_COLOR: '1',
  };
  // The token as a user gets one: from `omni token`, with the same secret the stack verifies with.
  const minted = await runProcess(process.execPath, [omniBin, 'token', 'cli-user', 'default', '--admin'], {
    env: base,
  });
  if (minted.code !== 0) throw new Error(`omni token failed: ${minted.stderr}`);
  const token = minted.stdout.trim();
  const env = { ...base, OMNI_TOKEN: token };
  return {
    stack,
    server,
    env,
    omni: (args, options = {}) =>
      runProcess(process.execPath, [omniBin, ...args], {
        env: { ...env, ...options.env },
        ...(options.input === undefined ? {} : { input: options.input }),
      }),
    async stop() {
      await server.close();
      await stack.stop();
    },
  };
}

/** Each line of stdout parsed as JSON (it fails the test on a line that is not). */
export const jsonLines = (text: string): unknown[] =>
  text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as unknown);
