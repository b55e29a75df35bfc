import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
