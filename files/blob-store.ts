import type { Kysely } from 'kysely';
import type { Database } from '../events/tables.ts';

/** Names a blob: its tenant and the SHA-256 of its bytes (lower-case hex). */
export interface BlobKey {
  readonly tenant: string;
  readonly sha256: string;
}

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
  /** Removes the blob; removing a missing one is a no-op. */
  delete(key: BlobKey): Promise<void>;
  /**
   * The same store acting inside a database transaction, so a blob and the row naming it commit
   * together; a store outside Postgres returns itself.
   */
  within(db: Kysely<Database>): BlobStore;
}
