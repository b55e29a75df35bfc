import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { sql } from 'kysely';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlobStore } from '../../files/blob-store.ts';
import { createFileCatalog } from '../../files/file-catalog.ts';
import { createPostgresBlobStore } from '../../files/postgres-blob-store.ts';
import { createS3BlobStore } from '../../files/s3-blob-store.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

// One contract, two drivers: the default Postgres store and the S3 driver against an S3-compatible
// server (s3rver, speaking the S3 REST API on a local port) with the real AWS SDK client.
let database: TestDatabase;
let s3server: S3rver;
let s3directory: string;
let s3: BlobStore & { close(): void };
let s3Endpoint: string;

beforeAll(async () => {
  database = await createTestDatabase('blob_stores');
  s3directory = await mkdtemp(join(tmpdir(), 'omni-s3-'));
  s3server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory: s3directory,
    configureBuckets: [{ name: 'omni-files' }],
  });
  const { port } = await s3server.run();
  s3Endpoint = `http://127.0.0.1:${port}`;
  s3 = createS3BlobStore({
    bucket: 'omni-files',
    prefix: 'test/',
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${port}`,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
});
afterAll(async () => {
  s3?.close();
  await s3server?.close();
  await rm(s3directory, { recursive: true, force: true });
  await database?.destroy();
});

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const drivers: Record<string, () => BlobStore> = {
  postgres: () => createPostgresBlobStore(database.db),
  s3: () => s3,
};

const mebibyte = 1024 * 1024;

/** `total` random bytes delivered in network-sized chunks, as an upload arrives. */
function arriving(total: number, chunk = 64 * 1024): { content: Buffer; chunks: AsyncIterable<Buffer> } {
  const content = randomBytes(total);
  return {
    content,
    chunks: (async function* () {
      for (let at = 0; at < total; at += chunk) yield content.subarray(at, at + chunk);
    })(),
  };
}

/** What each driver still keeps under staging names: nothing, once an upload ended either way. */
async function stagedLeft(driver: string): Promise<number> {
  if (driver === 'postgres') {
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from blob_staging`.execute(
      database.db,
    );
    return rows[0]?.n ?? 0;
  }
  const client = new S3Client({
    region: 'us-east-1',
    endpoint: s3Endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  try {
    const listed = await client.send(
      new ListObjectsV2Command({ Bucket: 'omni-files', Prefix: 'test/.staging/' }),
    );
    return listed.KeyCount ?? 0;
  } finally {
    client.destroy();
  }
}

describe.each(Object.keys(drivers))('the %s blob store', (driver) => {
  const store = () => (drivers[driver] as () => BlobStore)();

  it('stores bytes under their hash, idempotently, and gives them back exactly', async () => {
    const content = randomBytes(300 * 1024);
    const key = { tenant: 'acme', sha256: sha256(content) };
    expect(await store().has(key)).toBe(false);
    expect(await store().get(key)).toBeUndefined();
    await store().put(key, content);
    await store().put(key, content);
    expect(await store().has(key)).toBe(true);
    expect((await store().get(key))?.equals(content)).toBe(true);
    await store().delete(key);
    await store().delete(key);
    expect(await store().has(key)).toBe(false);
  });

  it('keeps tenants apart, even for the same bytes and a tenant name shaped like a path', async () => {
    const content = Buffer.from(`shared-${driver}`);
    const hash = sha256(content);
    await store().put({ tenant: 'acme', sha256: hash }, content);
    expect(await store().has({ tenant: 'globex', sha256: hash })).toBe(false);
    expect(await store().has({ tenant: 'acme/../globex', sha256: hash })).toBe(false);
    await store().delete({ tenant: 'globex', sha256: hash });
    expect(await store().has({ tenant: 'acme', sha256: hash })).toBe(true);
  });

  it('stages an upload as it arrives, names it by its hash only when promoted, and keeps no staging', async () => {
    const { content, chunks } = arriving(12 * mebibyte + 123);
    const staged = await store().stage('acme', chunks);
    expect(staged).toMatchObject({ tenant: 'acme', sha256: sha256(content), size: content.length });
    const key = { tenant: 'acme', sha256: staged.sha256 };
    expect(await store().has(key)).toBe(false);
    if (driver === 'postgres') {
      // In pieces, none larger than one: the upload was never one value in this process.
      const { rows } = await sql<{ pieces: number; largest: number }>`
        select count(*)::int as pieces, max(octet_length(content))::int as largest
        from blob_staging where staging_id = ${staged.stagingId}
      `.execute(database.db);
      expect(rows[0]).toEqual({ pieces: 13, largest: mebibyte });
    }
    await store().promote(staged);
    expect((await store().get(key))?.equals(content)).toBe(true);
    expect(await stagedLeft(driver)).toBe(0);
    // The same bytes again: promoting is a no-op on the stored blob, and the staging goes too.
    const again = await store().stage('acme', arriving(0).chunks);
    expect(again).toMatchObject({ size: 0, sha256: sha256(Buffer.alloc(0)) });
    await store().promote(again);
    expect((await store().get({ tenant: 'acme', sha256: again.sha256 }))?.length).toBe(0);
    const twin = await store().stage(
      'acme',
      (async function* () {
        yield content;
      })(),
    );
    await store().promote(twin);
    expect((await store().get(key))?.equals(content)).toBe(true);
    expect(await stagedLeft(driver)).toBe(0);
    await store().delete(key);
  });

  it('leaves nothing staged when the upload fails mid-way, or is discarded', async () => {
    const { chunks } = arriving(7 * mebibyte);
    const failing = (async function* () {
      let sent = 0;
      for await (const chunk of chunks) {
        yield chunk;
        sent += chunk.length;
        if (sent > 6 * mebibyte) throw new Error('the client went away');
      }
    })();
    await expect(store().stage('acme', failing)).rejects.toThrow('the client went away');
    expect(await stagedLeft(driver)).toBe(0);
    const staged = await store().stage('acme', arriving(2 * mebibyte).chunks);
    await store().discard(staged);
    await store().discard(staged);
    expect(await stagedLeft(driver)).toBe(0);
    expect(await store().has({ tenant: 'acme', sha256: staged.sha256 })).toBe(false);
  });

  it('backs the file catalog: an upload, its twin stored once, and deletion of the last name removes the bytes', async () => {
    const catalog = createFileCatalog(database.db, store());
    const content = Buffer.from(`catalog-${driver}-${Date.now()}`);
    const first = await catalog.upload(
      { tenant: 'acme', name: 'a.txt', contentType: 'text/plain', content },
      { actor: 'test' },
    );
    const twin = await catalog.upload(
      { tenant: 'acme', name: 'b.txt', contentType: 'text/plain', content },
      { actor: 'test' },
    );
    expect(twin.sha256).toBe(first.sha256);
    expect((await catalog.content(twin))?.equals(content)).toBe(true);
    await catalog.delete(first, { actor: 'test' });
    expect(await store().has({ tenant: 'acme', sha256: first.sha256 })).toBe(true);
    await catalog.delete(twin, { actor: 'test' });
    expect(await store().has({ tenant: 'acme', sha256: first.sha256 })).toBe(false);
    expect(await catalog.find('acme', first.id)).toBeUndefined();
  });

  it('discards an artifact no event recorded, without recording anything, and leaves uploads alone', async () => {
    const catalog = createFileCatalog(database.db, store());
    const content = Buffer.from(`orphan-${driver}-${Date.now()}`);
    const artifact = await catalog.storeArtifact({
      tenant: 'acme',
      name: 'x.txt',
      contentType: 'text/plain',
      content,
      jobId: '3d1b2c4e-5f60-4a7b-8c9d-0e1f2a3b4c5d',
      attempt: 1,
    });
    const upload = await catalog.upload(
      { tenant: 'acme', name: 'u.txt', contentType: 'text/plain', content: Buffer.from('u') },
      {},
    );
    await catalog.discardArtifacts('acme', [artifact.id, upload.id]);
    expect(await catalog.find('acme', artifact.id)).toBeUndefined();
    expect(await store().has({ tenant: 'acme', sha256: artifact.sha256 })).toBe(false);
    expect(await catalog.find('acme', upload.id)).toBeDefined();
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from events where stream_id = ${`file-${artifact.id}`}
    `.execute(database.db);
    expect(rows[0]?.n).toBe(0);
  });
});

describe('the Postgres blob store', () => {
  it('sweeps pieces an upload that died left behind an hour ago, and refuses to promote a swept one', async () => {
    const store = createPostgresBlobStore(database.db);
    const dying = await store.stage('acme', arriving(3 * mebibyte).chunks);
    await sql`update blob_staging set staged_at = now() - interval '2 hours' where staging_id = ${dying.stagingId}`.execute(
      database.db,
    );
    // A store sweeps at most once a minute: the next process to start (a fresh store) sweeps at once.
    const fresh = await createPostgresBlobStore(database.db).stage('acme', arriving(10).chunks);
    await expect(store.promote(dying)).rejects.toThrow('incomplete');
    expect(await store.has({ tenant: 'acme', sha256: dying.sha256 })).toBe(false);
    await store.promote(fresh);
    expect(await stagedLeft('postgres')).toBe(0);
  });
});
