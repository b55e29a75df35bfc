import type { Kysely } from 'kysely';
import type { Database } from '../events/tables.ts';
import type { BlobStore } from './blob-store.ts';
import { createPostgresBlobStore } from './postgres-blob-store.ts';
import { createS3BlobStore } from './s3-blob-store.ts';

/** Where file bytes go and how large an upload may be (FILES_* in the configuration). */
export interface FilesConfig {
  readonly maxUploadBytes: number;
  readonly store:
    | { readonly kind: 'postgres' }
    | {
        readonly kind: 's3';
        readonly bucket: string;
        readonly region: string;
        readonly prefix: string;
        readonly forcePathStyle: boolean;
        readonly endpoint?: string;
      };
}

/** The blob store the operator chose: Postgres unless a bucket is configured. */
export function configuredBlobStore(config: FilesConfig, db: Kysely<Database>): BlobStore {
  return config.store.kind === 's3' ? createS3BlobStore(config.store) : createPostgresBlobStore(db);
}
