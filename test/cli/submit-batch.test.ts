import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labelledJobs } from '../support/labelled-jobs.ts';
import { testImage } from '../support/test-image.ts';
import { type CliStack, jsonLines, startCliStack } from './cli-harness.ts';

let cli: CliStack;
let directory: string;
const uuid = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

beforeAll(async () => {
  cli = await startCliStack('cli-submit-batch');
  directory = await mkdtemp(join(tmpdir(), 'omni-cli-batch-'));
});
afterAll(async () => {
  await cli?.stop();
  if (directory) await rm(directory, { recursive: true, force: true });
});

/** A job spec line; `run` labels every job of one test, so the API can say what it holds of them. */
const spec = (run: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ image: testImage, command: ['true'], labels: { run }, ...extra });

async function jobsFile(name: string, lines: readonly string[]): Promise<string> {
  const path = join(directory, name);
  await writeFile(path, `${lines.join('\n')}\n`);
  return path;
}

async function api<T>(path: string): Promise<T> {
  const response = await fetch(`${cli.server.url}${path}`, {
    headers: { authorization: `Bearer ${cli.env.OMNI_TOKEN}` },
  });
  expect(response.status, path).toBe(200);
  return (await response.json()) as T;
}

/** The ids of the jobs the API holds with this run's label, once the list has caught up with the log. */
const jobsOfRun = (run: string) =>
  labelledJobs((path, init) => fetch(`${cli.server.url}${path}`, init), cli.env.OMNI_TOKEN as string, run);

describe('omni jobs submit-batch', { timeout: 120_000 }, () => {
  it('prints a line per job in the file order: ids queued, the refused one by its line; exit 3', async () => {
    const run = randomUUID();
    const path = await jobsFile('mixed.jsonl', [
      spec(run, { command: ['echo', 'one'] }),
      spec(run, { command: ['echo', 'two'] }),
      '',
      spec(run, { image: 'not-allowed:latest' }),
      spec(run, { command: ['echo', 'four'] }),
    ]);
    const result = await cli.omni(['jobs', 'submit-batch', path]);
    expect(result.code, result.stderr).toBe(3);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(new RegExp(`^${uuid} queued$`));
    expect(lines[1]).toMatch(new RegExp(`^${uuid} queued$`));
    // The blank line counts: the refused job is on line 4 of the file.
    expect(lines[2]).toMatch(/^line 4: refused: validation-failed: .*\(\/image: .*allowlist.*\)$/);
    expect(lines[3]).toMatch(new RegExp(`^${uuid} queued$`));
    expect(result.stderr).toBe('omni: 3 queued, 0 replayed, 1 refused\n');
    const ids = [lines[0], lines[1], lines[3]].map((line) => line?.split(' ')[0] as string);
    expect((await jobsOfRun(run)).sort()).toEqual([...ids].sort());
    // Each id is the job of its own line.
    const commands = await Promise.all(
      ids.map(async (id) => (await api<{ command: string[] }>(`/v1/jobs/${id}`)).command),
    );
    expect(commands).toEqual([
      ['echo', 'one'],
      ['echo', 'two'],
      ['echo', 'four'],
    ]);
  });

  it('--atomic with a refused line submits nothing and names the line; exit 3', async () => {
    const run = randomUUID();
    const path = await jobsFile('atomic.jsonl', [
      spec(run),
      spec(run),
      spec(run, { image: 'not-allowed:latest' }),
    ]);
    const result = await cli.omni(['jobs', 'submit-batch', '--atomic', path]);
    expect(result.code, result.stderr).toBe(3);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      /^omni: The batch is refused: .*none was submitted.*\(line 3 \/image: .*allowlist/,
    );
    expect(await jobsOfRun(run)).toEqual([]);
    // The same file without the bad line goes in whole.
    const good = await jobsFile('atomic-good.jsonl', [spec(run), spec(run)]);
    const accepted = await cli.omni(['jobs', 'submit-batch', '--atomic', good]);
    expect(accepted.code, accepted.stderr).toBe(0);
    expect(await jobsOfRun(run)).toHaveLength(2);
  });

  it('a line that is not JSON is named by its number, and nothing is sent; exit 2', async () => {
    const run = randomUUID();
    const path = await jobsFile('broken.jsonl', [spec(run), '{"image": "omni-busybox:latest",', spec(run)]);
    const result = await cli.omni(['jobs', 'submit-batch', path]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      /^omni: invalid usage: .*broken\.jsonl: a line is not JSON, so no job was sent \(line 2: not JSON/,
    );
    expect(await jobsOfRun(run)).toEqual([]);
  });

  it('reads the jobs from stdin with -, and --json prints a JSON line per job', async () => {
    const run = randomUUID();
    const result = await cli.omni(['jobs', 'submit-batch', '--json', '-'], {
      input: `${spec(run)}\n${spec(run, { command: ['echo', 'b'] })}\n`,
    });
    expect(result.code, result.stderr).toBe(0);
    const results = jsonLines(result.stdout) as {
      line: number;
      index: number;
      outcome: string;
      id: string;
    }[];
    expect(results.map(({ line, index, outcome }) => ({ line, index, outcome }))).toEqual([
      { line: 1, index: 0, outcome: 'queued' },
      { line: 2, index: 1, outcome: 'queued' },
    ]);
    expect((await jobsOfRun(run)).sort()).toEqual(results.map((entry) => entry.id).sort());
  });

  it('the same file with idempotency keys, sent twice, answers the same ids, replayed', async () => {
    const run = randomUUID();
    const path = await jobsFile('keyed.jsonl', [
      spec(run, { idempotencyKey: `${run}-a` }),
      spec(run, { idempotencyKey: `${run}-b` }),
    ]);
    const first = await cli.omni(['jobs', 'submit-batch', path]);
    expect(first.code, first.stderr).toBe(0);
    const second = await cli.omni(['jobs', 'submit-batch', path]);
    expect(second.code, second.stderr).toBe(0);
    const ids = (text: string) =>
      text
        .trimEnd()
        .split('\n')
        .map((line) => line.split(' ')[0]);
    expect(ids(second.stdout)).toEqual(ids(first.stdout));
    expect(first.stdout).toMatch(new RegExp(`^${uuid} queued\n${uuid} queued\n$`));
    expect(second.stdout).toMatch(new RegExp(`^${uuid} replayed\n${uuid} replayed\n$`));
    expect(second.stderr).toBe('omni: 0 queued, 2 replayed, 0 refused\n');
    expect(await jobsOfRun(run)).toHaveLength(2);
  });
});
