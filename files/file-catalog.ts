import { createHash, randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { createEventStore, type EventMetadata } from '../events/event-store.ts';
import type { Database } from '../events/tables.ts';
import { fileEventSchemas, fileStreamId } from '../schemas/file-events.schema.ts';
import type { BlobKey, BlobStore, StagedBlob } from './blob-store.ts';

/** A file as its owner sees it. */
export interface FileRecord {
  readonly id: string;
  readonly tenant: string;
  readonly name: string;
  readonly contentType: string;
  readonly size: number;
  readonly sha256: string;
  readonly kind: 'upload' | 'artifact';
  readonly jobId: string | null;
  readonly attempt: number | null;
  readonly createdBy: string | null;
  readonly createdAt: Date;
}

export interface NewFile {
  readonly tenant: string;
  readonly name: string;
  readonly contentType: string;
  readonly content: Buffer;
  readonly createdBy?: string;
}

/** An upload: its bytes as they arrive (or at once), never held whole by the catalog. */
export interface NewUpload extends Omit<NewFile, 'content'> {
  readonly content: Buffer | AsyncIterable<Buffer>;
}

export interface NewArtifact extends NewFile {
  readonly jobId: string;
  readonly attempt: number;
}

export interface FileCatalog {
  /**
   * Stores an upload: its bytes staged as they stream in, then, in one transaction, made the
   * tenant's blob (once per tenant), a row naming them and `FileUploaded`. A stream that fails
   * (over the cap, a broken envelope) leaves nothing behind.
   */
  upload(file: NewUpload, metadata: EventMetadata): Promise<FileRecord>;
  /** Stores a job's artifact; its `ArtifactStored` event is the job's to record. */
  storeArtifact(artifact: NewArtifact): Promise<FileRecord>;
  /** The tenant's file, or undefined: another tenant's file is as missing as one never stored. */
  find(tenant: string, id: string): Promise<FileRecord | undefined>;
  /** Newest first; `before` is the id of the last file of the previous page. */
  list(tenant: string, options: { readonly limit: number; readonly before?: string }): Promise<FileRecord[]>;
  /** The bytes of a file, checked against the hash it was stored with. */
  content(file: FileRecord): Promise<Buffer | undefined>;
  /** The bytes of a tenant's blob by hash (inputs are named by hash on the job's events). */
  blob(key: BlobKey): Promise<Buffer | undefined>;
  /** Removes the file; its bytes go too unless another of the tenant's files names them. */
  delete(file: FileRecord, metadata: EventMetadata): Promise<void>;
  /**
   * Removes artifacts no event ever recorded (their attempt was ended elsewhere before its result
   * was appended), so nothing outside the log's account is left behind; records nothing itself.
   */
  discardArtifacts(tenant: string, fileIds: readonly string[]): Promise<void>;
}

export const sha256Hex = (content: Buffer) => createHash('sha256').update(content).digest('hex');

/** A file's content whose hash no longer matches the log's: tampered with or corrupted at rest. */
export class FileIntegrityError extends Error {
  readonly fileId: string;
  constructor(fileId: string) {
    super(`the stored bytes of file ${fileId} no longer match their recorded SHA-256`);
    this.name = 'FileIntegrityError';
    this.fileId = fileId;
  }
}

type FileRow = {
  id: string;
  tenant: string;
  name: string;
  content_type: string;
  size: number;
  sha256: Buffer;
  kind: 'upload' | 'artifact';
  job_id: string | null;
  attempt: number | null;
  created_by: string | null;
  created_at: Date;
};

const toRecord = (row: FileRow): FileRecord => ({
  id: row.id,
  tenant: row.tenant,
  name: row.name,
  contentType: row.content_type,
  size: Number(row.size),
  sha256: row.sha256.toString('hex'),
  kind: row.kind,
  jobId: row.job_id,
  attempt: row.attempt,
  createdBy: row.created_by,
  createdAt: row.created_at,
});

/**
 * Serialises writers of one blob (tenant + hash) for the rest of the transaction: a delete that
 * finds the blob unreferenced cannot remove it under an upload that is about to name it.
 */
async function lockBlob(trx: Kysely<Database>, key: BlobKey): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`blob:${key.tenant}:${key.sha256}`}, 0))`.execute(
    trx,
  );
}

async function* toAsync(chunks: Iterable<Buffer> | AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  yield* chunks;
}

/** Files and artifacts: names and owners in Postgres, bytes in the configured blob store. */
export function createFileCatalog(db: Kysely<Database>, blobs: BlobStore): FileCatalog {
  /** The row naming a tenant's blob and, for an upload, its `FileUploaded` event, in `trx`. */
  async function record(
    trx: Kysely<Database>,
    file: Omit<NewFile, 'content'> & { readonly jobId?: string; readonly attempt?: number },
    blob: { readonly sha256: string; readonly size: number },
    kind: 'upload' | 'artifact',
    metadata?: EventMetadata,
  ): Promise<FileRecord> {
    const row = await trx
      .insertInto('files')
      .values({
        id: randomUUID(),
        tenant: file.tenant,
        name: file.name,
        content_type: file.contentType,
        size: blob.size,
        sha256: Buffer.from(blob.sha256, 'hex'),
        kind,
        job_id: file.jobId ?? null,
        attempt: file.attempt ?? null,
        created_by: file.createdBy ?? null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    const stored = toRecord(row);
    if (kind === 'upload') {
      const data = fileEventSchemas.FileUploaded.data.parse({
        fileId: stored.id,
        tenant: stored.tenant,
        name: stored.name,
        contentType: stored.contentType,
        size: stored.size,
        sha256: stored.sha256,
      });
      await createEventStore(trx, { schemas: fileEventSchemas }).append(fileStreamId(stored.id), 0, [
        {
          type: 'FileUploaded',
          schemaVersion: fileEventSchemas.FileUploaded.version,
          data,
          metadata: metadata ?? {},
        },
      ]);
    }
    return stored;
  }

  /** An artifact, whose bytes the worker holds already. */
  async function storeArtifact(artifact: NewArtifact): Promise<FileRecord> {
    const key = { tenant: artifact.tenant, sha256: sha256Hex(artifact.content) };
    // Outside the transaction first: a slow upload to a bucket must not hold a transaction open.
    if (!(await blobs.has(key))) await blobs.put(key, artifact.content);
    return db.transaction().execute(async (trx) => {
      await lockBlob(trx, key);
      const inside = blobs.within(trx);
      // A delete may have removed the bytes between the put above and the lock.
      if (!(await inside.has(key))) await inside.put(key, artifact.content);
      return record(trx, artifact, { sha256: key.sha256, size: artifact.content.length }, 'artifact');
    });
  }

  async function upload(file: NewUpload, metadata: EventMetadata): Promise<FileRecord> {
    const chunks = Buffer.isBuffer(file.content) ? [file.content] : file.content;
    // Staged outside any transaction: a slow client must not hold one open while it sends.
    const staged: StagedBlob = await blobs.stage(file.tenant, toAsync(chunks));
    try {
      return await db.transaction().execute(async (trx) => {
        // Under the blob's lock a delete cannot remove the bytes between promote and the row.
        await lockBlob(trx, { tenant: file.tenant, sha256: staged.sha256 });
        await blobs.within(trx).promote(staged);
        return record(trx, file, staged, 'upload', metadata);
      });
    } catch (error) {
      await blobs.discard(staged).catch(() => undefined);
      throw error;
    }
  }

  async function find(tenant: string, id: string): Promise<FileRecord | undefined> {
    const row = await db
      .selectFrom('files')
      .selectAll()
      .where('tenant', '=', tenant)
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toRecord(row) : undefined;
  }

  /** Deletes the row (recording `FileDeleted` when metadata is given) and its bytes once unnamed. */
  async function remove(file: FileRecord, metadata: EventMetadata | undefined): Promise<void> {
    const key = { tenant: file.tenant, sha256: file.sha256 };
    await db.transaction().execute(async (trx) => {
      await lockBlob(trx, key);
      const deleted = await trx
        .deleteFrom('files')
        .where('tenant', '=', file.tenant)
        .where('id', '=', file.id)
        .returning('id')
        .executeTakeFirst();
      if (!deleted) return;
      if (metadata) {
        const data = fileEventSchemas.FileDeleted.data.parse({
          fileId: file.id,
          tenant: file.tenant,
          sha256: file.sha256,
        });
        // Artifacts have no stream of their own: their deletion starts one.
        await createEventStore(trx, { schemas: fileEventSchemas }).append(fileStreamId(file.id), null, [
          { type: 'FileDeleted', schemaVersion: fileEventSchemas.FileDeleted.version, data, metadata },
        ]);
      }
      const stillNamed = await trx
        .selectFrom('files')
        .select('id')
        .where('tenant', '=', file.tenant)
        .where('sha256', '=', Buffer.from(file.sha256, 'hex'))
        .limit(1)
        .executeTakeFirst();
      // Last, so a failure before it leaves the bytes in place; only a failed commit after it
      // could lose bytes a row still names, and the lock keeps new rows away meanwhile.
      if (!stillNamed) await blobs.within(trx).delete(key);
    });
  }

  return {
    upload,
    storeArtifact,

    find,

    async list(tenant, { limit, before }) {
      let query = db.selectFrom('files').selectAll().where('tenant', '=', tenant);
      if (before !== undefined) {
        const cursor = await db
          .selectFrom('files')
          .select(['created_at', 'id'])
          .where('tenant', '=', tenant)
          .where('id', '=', before)
          .executeTakeFirst();
        if (cursor) {
          query = query.where((eb) =>
            eb.or([
              eb('created_at', '<', cursor.created_at),
              eb.and([eb('created_at', '=', cursor.created_at), eb('id', '<', cursor.id)]),
            ]),
          );
        }
      }
      const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
      return rows.map(toRecord);
    },

    async content(file) {
      const bytes = await blobs.get({ tenant: file.tenant, sha256: file.sha256 });
      if (bytes === undefined) return undefined;
      if (sha256Hex(bytes) !== file.sha256) throw new FileIntegrityError(file.id);
      return bytes;
    },

    blob: (key) => blobs.get(key),

    delete: (file, metadata) => remove(file, metadata),

    async discardArtifacts(tenant, fileIds) {
      for (const id of fileIds) {
        const file = await find(tenant, id);
        if (file?.kind === 'artifact') await remove(file, undefined);
      }
    },
  };
}
