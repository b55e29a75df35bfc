import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { testServerUrl } from '../support/test-database.ts';
import { omniBin, runProcess } from './cli-harness.ts';

/** Whether the server has a database of that name (asked of the maintenance database). */
async function databaseExists(name: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: `${testServerUrl}/postgres` });
  await client.connect();
  try {
    return (await client.query('select 1 from pg_database where datname = $1', [name])).rowCount === 1;
  } finally {
    await client.end();
  }
}

const missing = `omni_test_never_created_${randomBytes(4).toString('hex')}`;
const empty = `omni_test_no_schema_${randomBytes(4).toString('hex')}`;
const omni = (args: readonly string[], database: string) =>
  runProcess(process.execPath, [omniBin, ...args], {
    env: { PATH: process.env.PATH, DATABASE_URL: `${testServerUrl}/${database}`, NO_COLOR: '1' },
  });

afterAll(async () => {
  const client = new pg.Client({ connectionString: `${testServerUrl}/postgres` });
  await client.connect();
  await client.query(`drop database if exists ${missing}`);
  await client.query(`drop database if exists ${empty}`);
  await client.end();
});

describe('read-only commands never create a database', { timeout: 180_000 }, () => {
  it('verify, replay and anchor against a database that does not exist: one line, exit 3, nothing created', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'omni-cli-readonly-'));
    try {
      await writeFile(join(directory, 'anchor.key'), 'not a key');
      for (const args of [
        ['verify'],
        ['verify', '--json'],
        ['replay', 'jobs'],
        ['anchor', '--anchor', join(directory, 'anchors.jsonl'), '--key', join(directory, 'anchor.key')],
      ]) {
        const run = await omni(args, missing);
        expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(3);
        expect(run.stdout).toBe('');
        if (args.includes('--json'))
          expect(JSON.parse(run.stderr)).toMatchObject({ code: 'database-not-found' });
        else
          expect(run.stderr).toBe(
            `omni: no such database: ${testServerUrl}/${missing}: database "${missing}" does not exist (set DATABASE_URL to the product's database; omni migrate creates one)\n`,
          );
        expect(await databaseExists(missing), args.join(' ')).toBe(false);
      }
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('verify against a database without the event store says so and adds nothing to it', async () => {
    const client = new pg.Client({ connectionString: `${testServerUrl}/postgres` });
    await client.connect();
    await client.query(`create database ${empty}`);
    await client.end();
    const run = await omni(['verify'], empty);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(
      /^omni: not an omni database: .* has no event store \(omni migrate creates it\)\n$/,
    );
    const inside = new pg.Client({ connectionString: `${testServerUrl}/${empty}` });
    await inside.connect();
    const tables = await inside.query("select tablename from pg_tables where schemaname = 'public'");
    await inside.end();
    expect(tables.rows).toEqual([]);
  });

  it('an unreachable Postgres: one line, exit 4; token without JWT_SECRET: one line, exit 2', async () => {
    const run = await runProcess(process.execPath, [omniBin, 'verify'], {
      env: { PATH: process.env.PATH, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/omni' },
    });
    expect(run).toMatchObject({
      code: 4,
      stdout: '',
      stderr: 'omni: cannot reach Postgres at postgres://postgres@127.0.0.1:1/omni: connection refused\n',
    });
    const token = await omni(['token'], missing);
    expect(token.code).toBe(2);
    expect(token.stderr).toMatch(/^omni: no signing key: JWT_SECRET is not set[^\n]*\n$/);
  });

  it('migrate is the one that creates it', async () => {
    const run = await omni(['migrate', '--json'], missing);
    expect(run.code, run.stderr).toBe(0);
    expect((JSON.parse(run.stdout) as { applied: string[] }).applied.length).toBeGreaterThan(5);
    expect(await databaseExists(missing)).toBe(true);
    const verified = await omni(['verify', '--json'], missing);
    expect(verified.code, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, eventsChecked: 0 });
  });
});
