import type { Kysely } from 'kysely';
import type { z } from 'zod';
import type { Database } from '../events/tables.ts';
import type { configSchema } from '../schemas/config.schema.ts';
import type { BlobStore } from './blob-store.ts';
import { createPostgresBlobStore } from './postgres-blob-store.ts';
import { createS3BlobStore } from './s3-blob-store.ts';

/** Where file bytes go and how large an upload may be (FILES_* in the configuration). */
export type FilesConfig = z.output<typeof configSchema>['files'];

/** The blob store the operator chose: Postgres unless a bucket is configured. */
export function configuredBlobStore(config: FilesConfig, db: Kysely<Database>): BlobStore {
  return config.store.kind === 's3' ? createS3BlobStore(config.store) : createPostgresBlobStore(db);
}
