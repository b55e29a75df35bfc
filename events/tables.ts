import type { ColumnType, Generated } from 'kysely';

/** The append-only log. Rows are inserted by `append_events` only; a trigger refuses any change. */
export interface EventsTable {
  readonly global_position: Generated<number>;
  readonly transaction_id: Generated<string>;
  readonly stream_id: string;
  readonly stream_version: number;
  readonly event_id: string;
  readonly type: string;
  readonly schema_version: number;
  readonly data: unknown;
  readonly metadata: unknown;
  readonly recorded_at: ColumnType<Date, never, never>;
  readonly hash: Buffer;
}

/** One row per stream: its current version and the hash the next event chains onto. */
export interface StreamsTable {
  readonly stream_id: string;
  readonly version: number;
  readonly last_hash: Buffer;
}

/** Where each subscription has read up to, in the log's commit-safe order. */
export interface CheckpointsTable {
  readonly subscription_id: string;
  readonly transaction_id: string;
  readonly global_position: number;
  readonly updated_at: ColumnType<Date, never, never>;
}

/** A tenant's secret, encrypted with AES-256-GCM; never copied into events. */
export interface SecretsTable {
  readonly tenant: string;
  readonly name: string;
  readonly key_id: string;
  readonly nonce: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
  readonly updated_at: ColumnType<Date, never, never>;
}

/** Bytes of the Postgres blob store, content-addressed per tenant. */
export interface BlobsTable {
  readonly tenant: string;
  readonly sha256: Buffer;
  readonly size: ColumnType<number, number, never>;
  readonly content: Buffer;
  readonly created_at: ColumnType<Date, never, never>;
}

/** A piece of an upload whose hash is not known yet (migration 0071). */
export interface BlobStagingTable {
  readonly staging_id: string;
  readonly piece: number;
  readonly content: Buffer;
  readonly staged_at: ColumnType<Date, never, never>;
}

/** An uploaded file or a job's artifact: a name over a tenant's blob. */
export interface FilesTable {
  readonly id: string;
  readonly tenant: string;
  readonly name: string;
  readonly content_type: string;
  readonly size: ColumnType<number, number, never>;
  readonly sha256: Buffer;
  readonly kind: 'upload' | 'artifact';
  readonly job_id: string | null;
  readonly attempt: number | null;
  readonly created_by: string | null;
  readonly created_at: ColumnType<Date, never, never>;
}

/** An event a reader stepped over because it could not read it (migration 0060). */
export interface UnreadableEventsTable {
  readonly reader: string;
  readonly global_position: number;
  readonly stream_id: string;
  readonly event_id: string;
  readonly event_type: string;
  readonly error: string;
  readonly first_seen_at: ColumnType<Date, never, never>;
}

export interface Database {
  readonly blobs: BlobsTable;
  readonly blob_staging: BlobStagingTable;
  readonly files: FilesTable;
  readonly secrets: SecretsTable;
  readonly events: EventsTable;
  readonly streams: StreamsTable;
  readonly checkpoints: CheckpointsTable;
  readonly unreadable_events: UnreadableEventsTable;
}
