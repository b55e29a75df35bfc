import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anchorSigningPayload, loadAnchorPrivateKey } from '../../events/anchor-signature.ts';
import { startAnchorTimer } from '../../events/anchor-timer.ts';
import { createEventStore, type EventStore } from '../../events/event-store.ts';
import { writeNextAnchor } from '../../events/write-anchor.ts';
import type { Anchor } from '../../schemas/anchor.schema.ts';
import { runVerify } from '../../services/cli/verify.command.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

const run = promisify(execFile);
const omni = fileURLToPath(new URL('../../services/main.ts', import.meta.url));

let database: TestDatabase;
let store: EventStore;
let directory: string;
let env: NodeJS.ProcessEnv;
const files = { anchors: '', key: '', publicKey: '', otherKey: '' };

const keyPair = () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKey,
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
  };
};

beforeAll(async () => {
  database = await createTestDatabase('anchor');
  store = createEventStore(database.db);
  directory = await mkdtemp(join(tmpdir(), 'omni-anchor-'));
  const operator = keyPair();
  files.anchors = join(directory, 'anchors.jsonl');
  files.key = join(directory, 'anchor.key');
  files.publicKey = join(directory, 'anchor.pub');
  files.otherKey = join(directory, 'other.key');
  await writeFile(files.key, operator.privatePem);
  await writeFile(files.publicKey, operator.publicPem);
  await writeFile(files.otherKey, keyPair().privatePem);
  env = { PATH: process.env.PATH, DATABASE_URL: database.url, JWT_SECRET: 'x'.repeat(40), NO_COLOR: '1' };
});
afterAll(async () => {
  await database?.destroy();
  if (directory) await rm(directory, { recursive: true, force: true });
});

/** Runs the real CLI; resolves with the exit code instead of rejecting on a non-zero one. */
async function omniCli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [omni, ...args], { env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

const event = (type: string, data: unknown) => ({
  type,
  schemaVersion: 1,
  data,
  metadata: { actor: 'tester' },
});

async function verifyWithAnchors(anchorFile = files.anchors) {
  const result = await omniCli('verify', '--json', '--anchor', anchorFile, '--public-key', files.publicKey);
  return { code: result.code, report: JSON.parse(result.stdout) };
}

/** The same command in this process (what the CLI runs, without a process start per check). */
async function verifyHere(options: { anchorFile?: string; json?: boolean } = {}) {
  let text = '';
  const code = await runVerify(
    { db: database.db },
    {
      json: options.json ?? true,
      out: { write: (chunk: string) => (text += chunk) },
      ...(options.anchorFile === undefined
        ? {}
        : { anchors: { file: options.anchorFile, publicKeyFile: files.publicKey } }),
    },
  );
  return { code, text, report: options.json === false ? undefined : JSON.parse(text) };
}

const anchorHere = async (file = files.anchors, keyFile = files.key) =>
  writeNextAnchor({ db: database.db, file, privateKey: loadAnchorPrivateKey(await readFile(keyFile)) });

/** As a database superuser would: triggers off for this session, then SQL run as given. */
async function asSuperuser(statements: (client: pg.Client) => Promise<void>): Promise<void> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    await client.query('begin');
    await client.query('set local session_replication_role = replica');
    await statements(client);
    await client.query('commit');
  } finally {
    await client.end();
  }
}

/**
 * Anchors stop below the oldest transaction running anywhere on the server (other test files'
 * included): wait until every event appended so far is below it, so the counts are exact.
 */
async function settled(): Promise<void> {
  for (const deadline = Date.now() + 40_000; Date.now() < deadline; ) {
    const { rows } = await sql<{ below: boolean }>`
      select coalesce(max(transaction_id) < pg_snapshot_xmin(pg_current_snapshot()), true) as below from events
    `.execute(database.db);
    if (rows[0]?.below) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const anchorLines = async (file = files.anchors): Promise<Anchor[]> =>
  (await readFile(file, 'utf8'))
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as Anchor);

describe('omni anchor and verify --anchor', () => {
  const victim = `account-${randomUUID()}`;

  it('writes incremental signed anchors that verify against the log', async () => {
    await store.append(victim, 0, [event('Opened', { owner: 'alice' }), event('Deposited', { amount: 10 })]);
    for (let i = 0; i < 3; i += 1) await store.append(`other-${randomUUID()}`, 0, [event('A', { i })]);
    await settled();
    const first = await omniCli('anchor', '--json', '--anchor', files.anchors, '--key', files.key);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ written: true, anchor: { count: 5, total: 5 } });

    // Nothing new: no line written.
    expect(await anchorHere()).toMatchObject({ written: false });

    await store.append(victim, 2, [event('Withdrew', { amount: 3 }), event('Withdrew', { amount: 4 })]);
    await store.append(`other-${randomUUID()}`, 0, [event('A', { i: 9 })]);
    await settled();
    expect(await anchorHere()).toMatchObject({ written: true, anchor: { count: 3 } });
    const [one, two] = await anchorLines();
    expect(two).toMatchObject({ count: 3, total: 8 });
    expect(two?.position).toBeGreaterThan(one?.position ?? Number.POSITIVE_INFINITY);
    expect(two?.previous).toMatch(/^[0-9a-f]{64}$/);

    // Appended after the last anchor: the log still extends the anchored state.
    await store.append(`later-${randomUUID()}`, 0, [event('A', { i: 10 })]);
    const { code, report } = await verifyWithAnchors();
    expect(code).toBe(0);
    expect(report).toMatchObject({ ok: true, anchors: { ok: true, anchorsChecked: 2, eventsCovered: 8 } });
  }, 90_000);

  it('finds a stream tail a superuser rewrote with its head, which the chain walk alone cannot', async () => {
    const [, anchored] = await anchorLines();
    const tail = (await store.readStream(victim)).slice(-2);
    expect(tail.map((recorded) => recorded.streamVersion)).toEqual([3, 4]);
    // Rewrite versions 3 and 4 (the second anchor's range) with new amounts and hashes recomputed on
    // the chain, and move the stream head to the new last hash: every per-stream check still holds.
    await asSuperuser(async (client) => {
      for (const version of [3, 4]) {
        await client.query(
          `update events e set data = '{"amount": 0}'::jsonb,
             hash = event_hash(coalesce((select p.hash from events p where p.stream_id = e.stream_id
                                           and p.stream_version = e.stream_version - 1), ''::bytea),
                               e.stream_id, e.stream_version, e.event_id, e.type, e.schema_version,
                               '{"amount": 0}'::jsonb, e.metadata, e.recorded_at)
           where stream_id = $1 and stream_version = $2`,
          [victim, version],
        );
      }
      await client.query(
        `update streams s set last_hash = (select hash from events where stream_id = s.stream_id
           and stream_version = s.version) where stream_id = $1`,
        [victim],
      );
    });
    const rewritten = await store.readStream(victim);
    expect(rewritten.at(-1)?.data).toEqual({ amount: 0 });

    const plain = await verifyHere();
    expect(plain.code).toBe(0);
    expect(plain.report).toMatchObject({ ok: true });

    const { code, report } = await verifyWithAnchors();
    expect(code).toBe(1);
    expect(report).toMatchObject({
      ok: false,
      anchors: {
        ok: false,
        anchorsChecked: 1,
        brokenAnchor: { line: 2, position: anchored?.position, problem: 'root-mismatch' },
      },
    });
    const text = await verifyHere({ anchorFile: files.anchors, json: false });
    expect(text.code).toBe(1);
    expect(text.text).toContain(`✗ anchor on line 2 (position ${anchored?.position}`);
  }, 90_000);

  it('refuses a forged anchor: an edited line, one signed by another key, one that claims the operator key', async () => {
    const lines = (await readFile(files.anchors, 'utf8')).trimEnd().split('\n');
    const first = JSON.parse(lines[0] as string) as Anchor;
    const forgedFile = join(directory, 'forged.jsonl');

    // An attacker recomputes the root after rewriting the log and edits the line: the signature breaks.
    await writeFile(forgedFile, `${JSON.stringify({ ...first, root: 'ab'.repeat(32) })}\n`);
    expect((await verifyHere({ anchorFile: forgedFile })).report.anchors).toMatchObject({
      ok: false,
      brokenAnchor: { line: 1, problem: 'bad-signature' },
    });

    // Signed with a key of their own, under the operator's key id: the signature does not hold.
    const attacker = keyPair();
    const claimed = { ...first, root: 'cd'.repeat(32) };
    const { signature: _, ...unsigned } = claimed;
    const forgedSignature = sign(null, anchorSigningPayload(unsigned), attacker.privateKey).toString(
      'base64',
    );
    await writeFile(forgedFile, `${JSON.stringify({ ...claimed, signature: forgedSignature })}\n`);
    const claimedKey = await verifyHere({ anchorFile: forgedFile });
    expect(claimedKey.code).toBe(1);
    expect(claimedKey.report.anchors).toMatchObject({ brokenAnchor: { line: 1, problem: 'bad-signature' } });

    // A whole file anchored by another key (a fresh file over the same log): named as another key's.
    const otherFile = join(directory, 'other.jsonl');
    expect(await anchorHere(otherFile, files.otherKey)).toMatchObject({ written: true });
    expect((await verifyHere({ anchorFile: otherFile })).report.anchors).toMatchObject({
      brokenAnchor: { line: 1, problem: 'other-key' },
    });

    // Dropping the first line breaks the chain of lines.
    await writeFile(forgedFile, `${lines[1]}\n`);
    expect((await verifyHere({ anchorFile: forgedFile })).report.anchors).toMatchObject({
      brokenAnchor: { line: 1, problem: 'broken-link' },
    });
  });

  it('anchors on a timer (the dispatcher role with ANCHOR_INTERVAL_MS), only while active', async () => {
    const anchorFile = join(directory, 'timer.jsonl');
    let active = false;
    const anchored: Anchor[] = [];
    const timer = startAnchorTimer({
      db: database.db,
      privateKey: loadAnchorPrivateKey(await readFile(files.key)),
      file: anchorFile,
      intervalMs: 50,
      isActive: () => active,
      onAnchor: (anchor) => anchored.push(anchor),
      onError: (error) => {
        throw error;
      },
    });
    try {
      await settled();
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(anchored).toEqual([]);
      active = true;
      for (const deadline = Date.now() + 20_000; anchored.length === 0 && Date.now() < deadline; ) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(anchored).toHaveLength(1);
      await store.append(`timed-${randomUUID()}`, 0, [event('A', { i: 1 })]);
      for (const deadline = Date.now() + 20_000; anchored.length < 2 && Date.now() < deadline; ) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(anchored[1]).toMatchObject({ count: 1 });
    } finally {
      await timer.stop();
    }
    expect((await verifyHere({ anchorFile })).report.anchors).toMatchObject({ ok: true, anchorsChecked: 2 });
  }, 90_000);
  it('recomputes event hashes outside the database: a replaced event_hash() does not hide an edited event', async () => {
    const stream = `ledger-${randomUUID()}`;
    await store.append(stream, 0, [event('Opened', { owner: 'bob' }), event('Deposited', { amount: 50 })]);
    await settled();
    // A file of its own: the one above no longer holds after the tail rewrite.
    const anchorFile = join(directory, 'ledger.jsonl');
    expect(await anchorHere(anchorFile)).toMatchObject({ written: true });
    const [, deposited] = await store.readStream(stream);
    const { rows } = await sql<{ definition: string }>`
      select pg_get_functiondef('event_hash(bytea, text, bigint, uuid, text, integer, jsonb, jsonb, timestamptz)'::regprocedure) as definition
    `.execute(database.db);
    const original = rows[0]?.definition as string;
    try {
      // The superuser edits the amount, keeps the stored hash, and makes the database vouch for it.
      await asSuperuser(async (client) => {
        await client.query(`update events set data = '{"amount": 5000}' where global_position = $1`, [
          deposited?.globalPosition,
        ]);
        await client.query(`
          create or replace function event_hash(previous bytea, stream_id text, stream_version bigint,
            event_id uuid, type text, schema_version integer, data jsonb, metadata jsonb, recorded_at timestamptz)
          returns bytea language sql stable as $$ select e.hash from events e where e.event_id = $4 $$
        `);
      });
      expect((await verifyHere()).report).toMatchObject({ ok: true });
      const { code, report } = await verifyWithAnchors(anchorFile);
      expect(code).toBe(1);
      expect(report.anchors).toMatchObject({
        ok: false,
        brokenAnchor: {
          problem: 'event-mismatch',
          event: { position: deposited?.globalPosition, streamId: stream, streamVersion: 2 },
        },
      });
      // Nor will anyone sign over it now.
      await expect(anchorHere(join(directory, 'after-edit.jsonl'))).rejects.toThrow(
        `not anchoring: the event at position ${deposited?.globalPosition}`,
      );
    } finally {
      await sql.raw(original).execute(database.db);
    }
  }, 90_000);
});
