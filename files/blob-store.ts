import type { Kysely } from 'kysely';
import type { Database } from '../events/tables.ts';

/** Names a blob: its tenant and the SHA-256 of its bytes (lower-case hex). */
export interface BlobKey {
  readonly tenant: string;
  readonly sha256: string;
}

/** Bytes stored as they arrived, under a staging name of their own until promoted to their hash. */
export interface StagedBlob {
  readonly tenant: string;
  readonly stagingId: string;
  readonly sha256: string;
  readonly size: number;
}

/** How much of an upload a driver holds in memory at once while staging it. */
export const stagingChunkBytes = 1024 * 1024;

/**
 * Where file bytes live, content-addressed per tenant. Small on purpose so a deployment can swap
 * Postgres for an S3-compatible bucket by configuration; names, owners and history stay in Postgres.
 */
export interface BlobStore {
  /** Stores bytes under their hash; storing the same bytes again is a no-op. */
  put(key: BlobKey, content: Buffer): Promise<void>;
  has(key: BlobKey): Promise<boolean>;
  /** The bytes, or undefined when no such blob is stored. */
  get(key: BlobKey): Promise<Buffer | undefined>;
  /**
   * Stores bytes as they arrive, hashing them on the way, without ever holding them whole (an
   * upload's hash is known only at its end). Nothing is named by the hash until `promote`.
   */
  stage(tenant: string, chunks: AsyncIterable<Buffer>): Promise<StagedBlob>;
  /**
   * Makes staged bytes the blob their hash names (a no-op when those bytes are stored already) and
   * drops the staging; inside `within(trx)`, it commits with the row that names the blob.
   */
  promote(staged: StagedBlob): Promise<void>;
  /** Drops staged bytes that will not be promoted; dropping them twice is a no-op. */
  discard(staged: StagedBlob): Promise<void>;
  /** Removes the blob; removing a missing one is a no-op. */
  delete(key: BlobKey): Promise<void>;
  /**
   * The same store acting inside a database transaction, so a blob and the row naming it commit
   * together; a store outside Postgres returns itself.
   */
  within(db: Kysely<Database>): BlobStore;
}
