import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCliContext } from '../../services/cli/cli-context.ts';
import { createProgram } from '../../services/cli/program.ts';
import { testImage } from '../support/test-image.ts';
import { type CliStack, jsonLines, startCliStack } from './cli-harness.ts';

// Each test runs omni a dozen times or more, and jobs in Docker: more than the default minute on a busy machine.
let cli: CliStack;
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

beforeAll(async () => {
  cli = await startCliStack('cli-commands');
});
afterAll(async () => {
  await cli?.stop();
});

/** A port nothing listens on: taken, then let go. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Runs omni and expects exit 0; returns stdout. */
async function ok(...args: string[]): Promise<string> {
  const run = await cli.omni(args);
  expect(run.stderr, `omni ${args.join(' ')}`).not.toMatch(/omni: failed|at .*\.ts:\d+/);
  expect(run.code, `omni ${args.join(' ')}: ${run.stderr}`).toBe(0);
  return run.stdout;
}

describe('omni: results on stdout, job output on its own streams, exit codes', { timeout: 180_000 }, () => {
  it('token prints a token the API accepts, and nothing else', async () => {
    expect(cli.env.OMNI_TOKEN).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const response = await fetch(`${cli.server.url}/v1/me`, {
      headers: { authorization: `Bearer ${cli.env.OMNI_TOKEN}` },
    });
    expect(response.status).toBe(200);
  });

  it('submit prints only the id; --json the accepted job', async () => {
    const id = (await ok('submit', testImage, '--', 'true')).trim();
    expect(id).toMatch(uuid);
    const accepted = JSON.parse(await ok('submit', '--json', testImage, '--', 'true')) as { id: string };
    expect(accepted.id).toMatch(uuid);
  });

  it('submit --wait: the job stdout on stdout, its stderr on stderr, its exit code', async () => {
    const run = await cli.omni([
      'submit',
      '--wait',
      testImage,
      '--',
      'sh',
      '-c',
      'echo to-out; echo to-err >&2; exit 7',
    ]);
    expect(run.code).toBe(7);
    expect(run.stdout).toBe('to-out\n');
    // The id first (stdout is the job's), then the job's stderr; no \r status line into a pipe.
    expect(run.stderr).toMatch(/^omni: job [0-9a-f-]{36} queued\nto-err\n$/);
    expect(run.stderr).not.toContain('\r');
    const fine = await cli.omni(['submit', '--wait', testImage, '--', 'echo', 'fine']);
    expect(fine).toMatchObject({ code: 0, stdout: 'fine\n' });
  });

  it('submit --wait --json: one document, the finished job, and the exit code', async () => {
    const run = await cli.omni(['submit', '--wait', '--json', testImage, '--', 'sh', '-c', 'echo j; exit 4']);
    expect(run.code).toBe(4);
    const [job, ...rest] = jsonLines(run.stdout) as { status: string; exitCode: number; stdout: string }[];
    expect(rest).toEqual([]);
    expect(job).toMatchObject({ status: 'failed', exitCode: 4, stdout: 'j\n' });
  });

  it('submit takes every spec field as a flag, and the job records them', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'omni-cli-flags-'));
    try {
      await writeFile(join(directory, 'note.txt'), 'a note\n');
      await writeFile(join(directory, 'stdin.txt'), 'from stdin\n');
      const run = await cli.omni([
        'submit',
        '--wait',
        '--json',
        '--env',
        'GREETING=hello',
        '--label',
        'team=data',
        '--label',
        'batch=7',
        '--memory',
        '64m',
        '--cpus',
        '0.5',
        '--pids',
        '32',
        '--timeout',
        '20s',
        '--priority',
        '80',
        '--delay',
        '0s',
        '--max-attempts',
        '2',
        '--retry-on',
        'timeout',
        '--idempotency-key',
        `flags-${Date.now()}`,
        '--file',
        `${join(directory, 'note.txt')}:/tmp/note.txt`,
        '--stdin',
        join(directory, 'stdin.txt'),
        testImage,
        '--',
        'sh',
        '-c',
        'echo $GREETING; cat /tmp/note.txt; cat',
      ]);
      expect(run.code, run.stderr).toBe(0);
      const job = JSON.parse(run.stdout) as Record<string, unknown>;
      expect(job).toMatchObject({
        status: 'succeeded',
        stdout: 'hello\na note\nfrom stdin\n',
        labels: { team: 'data', batch: '7' },
        priority: 80,
        maxAttempts: 2,
        timeoutMs: 20_000,
        limits: { memoryBytes: 64 * 1024 * 1024, cpus: 0.5, pids: 32 },
      });
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('the same idempotency key returns the same job', async () => {
    const key = `same-${Date.now()}`;
    const first = (await ok('submit', '--idempotency-key', key, testImage, '--', 'true')).trim();
    const second = (await ok('submit', '--idempotency-key', key, testImage, '--', 'true')).trim();
    expect(second).toBe(first);
  });

  it('--run-at and --delay schedule the job', async () => {
    const runAt = new Date(Date.now() + 3_600_000).toISOString();
    const id = (await ok('submit', '--run-at', runAt, testImage, '--', 'true')).trim();
    const job = JSON.parse(await ok('jobs', 'get', id, '--json')) as { status: string; runAt: string };
    expect(job.status).toBe('queued');
    expect(Date.parse(job.runAt)).toBe(Date.parse(runAt));
    const delayed = (await ok('submit', '--delay', '1h', testImage, '--', 'true')).trim();
    const later = JSON.parse(await ok('jobs', 'get', delayed, '--json')) as { runAt: string };
    expect(Date.parse(later.runAt)).toBeGreaterThan(Date.now() + 3_500_000);
    expect((await ok('jobs', 'cancel', id)).trim()).toBe(`${id} cancelled`);
    const cancelled = JSON.parse(await ok('jobs', 'cancel', delayed, '--json')) as { status: string };
    expect(cancelled.status).toBe('cancelled');
  });

  it('jobs list, get, events, logs, watch and retry', async () => {
    const id = (
      await ok(
        'submit',
        '--label',
        'suite=jobs',
        testImage,
        '--',
        'sh',
        '-c',
        'echo out; echo err >&2; exit 3',
      )
    ).trim();
    const watched = await cli.omni(['jobs', 'watch', id]);
    expect(watched.code).toBe(3);
    expect(watched.stdout).toMatch(/JobSubmitted[\s\S]*JobStarted[\s\S]*JobFailed/);

    const table = await ok('jobs', 'list', '--label', 'suite=jobs');
    const [header, row, ...more] = table.trimEnd().split('\n');
    expect(header).toMatch(/^ID\s+STATUS\s+EXIT\s+ATTEMPT\s+SUBMITTED\s+IMAGE\s+COMMAND$/);
    expect(row).toMatch(new RegExp(`^${id}\\s+failed\\s+3\\s+1\\s`));
    expect(more).toEqual([]);
    const page = JSON.parse(await ok('jobs', 'list', '--json', '--status', 'failed')) as {
      jobs: { id: string }[];
    };
    expect(page.jobs.map((job) => job.id)).toContain(id);

    expect(await ok('jobs', 'get', id)).toMatch(new RegExp(`^id:\\s+${id}\\nstatus:\\s+failed\\n`));
    const events = jsonLines(await ok('jobs', 'events', id, '--json')) as { type: string }[];
    expect(events.map((event) => event.type)).toEqual(expect.arrayContaining(['JobSubmitted', 'JobFailed']));

    const logs = await cli.omni(['jobs', 'logs', id]);
    expect(logs).toMatchObject({ code: 0, stdout: 'out\n', stderr: 'err\n' });
    const followed = await cli.omni(['jobs', 'logs', '--follow', id]);
    expect(followed).toMatchObject({ code: 0, stdout: 'out\n', stderr: 'err\n' });

    expect((await ok('jobs', 'retry', id)).trim()).toBe(`${id} queued`);
    const again = await cli.omni(['jobs', 'watch', '--json', id]);
    expect(again.code).toBe(3);
    const types = (jsonLines(again.stdout) as { type: string }[]).map((event) => event.type);
    expect(types.filter((type) => type === 'JobStarted')).toHaveLength(2);
  });

  it('files upload (prints the id), --input and --output, artifacts list and download, byte for byte', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'omni-cli-files-'));
    try {
      await writeFile(join(directory, 'words.txt'), 'one two\nthree\n');
      const fileId = (await ok('files', 'upload', join(directory, 'words.txt'))).trim();
      expect(fileId).toMatch(uuid);
      const meta = JSON.parse(await ok('files', 'get', fileId, '--json')) as { size: number; name: string };
      expect(meta).toMatchObject({ size: 14, name: 'words.txt' });
      expect(await ok('files', 'list')).toContain(fileId);
      expect(await ok('files', 'download', fileId)).toBe('one two\nthree\n');

      const run = await cli.omni([
        'submit',
        '--wait',
        '--input',
        `${fileId}:/tmp/in/words.txt`,
        '--output',
        '/out/*.txt',
        testImage,
        '--',
        'sh',
        '-c',
        'wc -w < /tmp/in/words.txt > /out/count.txt',
      ]);
      expect(run.code, run.stderr).toBe(0);
      const id = /omni: job ([0-9a-f-]{36})/.exec(run.stderr)?.[1] ?? '';
      expect(await ok('artifacts', 'list', id)).toMatch(/\/out\/count\.txt$/m);
      const target = join(directory, 'got');
      expect(await ok('artifacts', 'download', id, '--dir', target)).toBe(`${join(target, 'count.txt')}\n`);
      expect((await readFile(join(target, 'count.txt'), 'utf8')).trim()).toBe('3');
      expect((await ok('files', 'delete', fileId)).trim()).toBe(fileId);
      expect((await cli.omni(['files', 'get', fileId])).code).toBe(3);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('every command with --json prints JSON on stdout and nothing on stderr', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'omni-cli-json-'));
    try {
      await writeFile(join(directory, 'in.txt'), 'x\n');
      const file = JSON.parse(await ok('files', 'upload', '--json', join(directory, 'in.txt'))) as {
        id: string;
      };
      const run = await cli.omni([
        'submit',
        '--wait',
        '--json',
        '--output',
        '/out/o.txt',
        testImage,
        '--',
        'sh',
        '-c',
        'echo o > /out/o.txt; echo said; exit 1',
      ]);
      const job = JSON.parse(run.stdout) as { id: string };
      const later = (await ok('submit', '--delay', '1h', testImage, '--', 'true')).trim();
      const commands = [
        ['token', 'someone', 'default', '--json'],
        ['jobs', 'list', '--json'],
        ['jobs', 'get', job.id, '--json'],
        ['jobs', 'events', job.id, '--json'],
        ['jobs', 'logs', job.id, '--json'],
        ['jobs', 'logs', '--follow', job.id, '--json'],
        ['jobs', 'watch', job.id, '--json'],
        ['jobs', 'retry', job.id, '--json'],
        ['jobs', 'cancel', later, '--json'],
        ['files', 'list', '--json'],
        ['files', 'get', file.id, '--json'],
        ['artifacts', 'list', job.id, '--json'],
        ['artifacts', 'download', job.id, '--dir', join(directory, 'out'), '--json'],
        ['files', 'delete', file.id, '--json'],
        ['events', 'tail', '--limit', '2', '--json'],
        ['verify', '--json'],
        ['replay', 'jobs', '--json'],
        ['migrate', '--json'],
      ];
      for (const command of commands) {
        const result = await cli.omni(command);
        // watch exits like the job, which failed with 1.
        expect(result.code, `${command.join(' ')}: ${result.stderr}`).toBe(command[1] === 'watch' ? 1 : 0);
        expect(result.stderr, command.join(' ')).toBe('');
        expect(jsonLines(result.stdout).length, command.join(' ')).toBeGreaterThan(0);
      }
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('events tail --json prints the global log as JSON lines', async () => {
    const events = jsonLines(await ok('events', 'tail', '--json', '--limit', '3')) as {
      type: string;
      cursor: string;
    }[];
    expect(events).toHaveLength(3);
    expect(events[0]?.type).toBe('JobSubmitted');
    expect(new Set(events.map((event) => event.cursor)).size).toBe(3);
    const after = jsonLines(
      await ok('events', 'tail', '--json', '--limit', '1', '--after', events[1]?.cursor ?? ''),
    ) as { cursor: string }[];
    expect(after[0]?.cursor).toBe(events[2]?.cursor);
  });

  it('verify, replay and migrate report in JSON for scripts, and no \\r into a pipe', async () => {
    const verified = await cli.omni(['verify']);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(/^✓ the chain holds: [\d,]+ events checked/);
    expect(verified.stdout + verified.stderr).not.toContain('\r');
    const report = JSON.parse(await ok('verify', '--json')) as { ok: boolean; eventsChecked: number };
    expect(report.ok).toBe(true);
    expect(report.eventsChecked).toBeGreaterThan(5);
    const replayed = await cli.omni(['replay', 'jobs']);
    expect(replayed.code).toBe(0);
    expect(replayed.stdout + replayed.stderr).not.toContain('\r');
    expect(JSON.parse(await ok('replay', 'jobs', '--json'))).toMatchObject({ ok: true });
    expect(await ok('migrate', '--json')).toBe('{"applied":[]}\n');
  });
});

describe('omni: errors are one line (or the problem as JSON), with documented exit codes', {
  timeout: 180_000,
}, () => {
  it('bare omni prints help with the exit codes; per-command --help has examples', async () => {
    const help = await cli.omni([]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: omni <command>/);
    expect(help.stdout).toMatch(/Exit codes:[\s\S]*2 {2}usage[\s\S]*3 {2}not found[\s\S]*4 {2}cannot reach/);
    // A group without its subcommand: its help, on stderr, as a usage error.
    const group = await cli.omni(['jobs']);
    expect(group).toMatchObject({ code: 2, stdout: '' });
    expect(group.stderr).toMatch(/^Usage: omni jobs \[options\] \[command\]/);
    expect((await cli.omni(['help', 'jobs'])).code).toBe(0);
    const serve = await cli.omni(['serve', '--help']);
    expect(serve.stdout).toMatch(/^Usage: omni serve \[options\] \[role\][\s\S]*Examples:\n {2}omni serve/);
    // Every command and subcommand a user sees, in process: each --help ends with examples.
    const captured: string[] = [];
    const sink = { write: (text: string | Uint8Array) => captured.push(String(text)), color: false };
    const program = createProgram(createCliContext(sink, sink, {}));
    const visible = (command: Command) => !(command as unknown as { _hidden: boolean })._hidden;
    const commands = program.commands
      .filter(visible)
      .flatMap((command) => [
        command,
        ...command.commands.filter(visible).filter((sub) => sub.name() !== 'help'),
      ]);
    expect(commands.length).toBeGreaterThan(20);
    for (const command of commands.filter((candidate) => candidate.name() !== 'help')) {
      captured.length = 0;
      command.outputHelp();
      expect(captured.join(''), command.name()).toMatch(/\nExamples:\n {2}omni /);
    }
  });

  it('a wrong command or option: exit 2, one line naming the help to read', async () => {
    const unknown = await cli.omni(['frobnicate']);
    expect(unknown).toMatchObject({ code: 2, stdout: '' });
    expect(unknown.stderr).toBe(
      "omni: invalid usage: unknown command 'frobnicate' (omni --help shows the usage)\n",
    );
    const option = await cli.omni(['jobs', 'list', '--bogus']);
    expect(option.code).toBe(2);
    expect(option.stderr).toBe(
      "omni: invalid usage: unknown option '--bogus' (omni jobs list --help shows the usage)\n",
    );
    const value = await cli.omni(['submit', '--memory', 'lots', testImage, '--', 'true']);
    expect(value).toMatchObject({
      code: 2,
      stderr: 'omni: invalid usage: --memory lots: expected a size such as 256m or 1g\n',
    });
  });

  it("the API's 400 keeps its field pointers: one line, or the problem JSON on stderr with --json", async () => {
    const run = await cli.omni([
      'submit',
      '--env',
      '1BAD=x',
      '--label',
      'bad key=v',
      testImage,
      '--',
      'true',
    ]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.split('\n')).toHaveLength(2);
    expect(run.stderr).toMatch(
      /^omni: The request is invalid: .*\(\/env\/1BAD: [^,]+, \/labels\/bad key: [^,]+\)\n$/,
    );
    const json = await cli.omni(['submit', '--json', 'not-allowed:latest', '--', 'true']);
    expect(json.code).toBe(2);
    const problem = JSON.parse(json.stderr) as {
      status: number;
      code: string;
      errors: { pointer: string }[];
    };
    expect(problem).toMatchObject({ status: 400, code: 'validation-failed' });
    expect(problem.errors.map((error) => error.pointer)).toContain('/image');
  });

  it('a file named that is missing or not a key: exit 2, one line naming it', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'omni-cli-keys-'));
    try {
      const missing = join(directory, 'missing.key');
      const anchors = join(directory, 'anchors.jsonl');
      expect(await cli.omni(['anchor', '--anchor', anchors, '--key', missing])).toMatchObject({
        code: 2,
        stdout: '',
        stderr: `omni: invalid usage: ${missing}: no such file\n`,
      });
      await writeFile(join(directory, 'garbage.key'), 'not a key');
      const garbage = await cli.omni([
        'anchor',
        '--anchor',
        anchors,
        '--key',
        join(directory, 'garbage.key'),
      ]);
      expect(garbage.code).toBe(2);
      expect(garbage.stderr).toMatch(/^omni: invalid usage: \S+garbage\.key: [^\n]+\n$/);
      const verify = await cli.omni(['verify', '--anchor', anchors, '--public-key', missing]);
      expect(verify).toMatchObject({ code: 2, stderr: `omni: invalid usage: ${anchors}: no such file\n` });
      expect(await cli.omni(['files', 'upload', missing])).toMatchObject({
        code: 2,
        stderr: `omni: invalid usage: ${missing}: no such file\n`,
      });
      expect(await cli.omni(['submit', '--stdin', missing, testImage, '--', 'cat'])).toMatchObject({
        code: 2,
        stderr: `omni: invalid usage: ${missing}: no such file\n`,
      });
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('not found or refused: exit 3', async () => {
    const missing = await cli.omni(['jobs', 'get', '00000000-0000-4000-8000-000000000000']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/^omni: .+\n$/);
    const refused = await cli.omni(['jobs', 'list'], { env: { OMNI_TOKEN: 'not-a-token' } });
    expect(refused.code).toBe(3);
    expect(refused.stderr.split('\n')).toHaveLength(2);
  });

  it('a closed port: exit 4, "cannot reach …: connection refused" instead of a fetch TypeError', async () => {
    const closed = await closedPort();
    const run = await cli.omni(['jobs', 'list'], { env: { OMNI_URL: `http://127.0.0.1:${closed}` } });
    expect(run).toMatchObject({
      code: 4,
      stdout: '',
      stderr: `omni: cannot reach http://127.0.0.1:${closed}: connection refused\n`,
    });
    const json = await cli.omni(['jobs', 'list', '--json'], {
      env: { OMNI_URL: `http://127.0.0.1:${closed}` },
    });
    expect(JSON.parse(json.stderr)).toMatchObject({ code: 'api-unreachable', detail: 'connection refused' });
    // A feed that never opened is not retried: the same line at once.
    const feed = await cli.omni(['events', 'tail'], { env: { OMNI_URL: `http://127.0.0.1:${closed}` } });
    expect(feed).toMatchObject({
      code: 4,
      stderr: `omni: cannot reach http://127.0.0.1:${closed}: connection refused\n`,
    });
  });

  it('without a token, client commands say how to get one (exit 2)', async () => {
    const run = await cli.omni(['jobs', 'list'], { env: { OMNI_TOKEN: '' } });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^omni: no token: set OMNI_TOKEN/);
  });
});
