import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import type { BlobKey, BlobStore } from './blob-store.ts';

export interface S3BlobStoreOptions {
  readonly bucket: string;
  /** Prepended to every key, so one bucket can serve several deployments. */
  readonly prefix: string;
  readonly region: string;
  /** An S3-compatible server (MinIO, Ceph, R2); absent: AWS. */
  readonly endpoint?: string;
  /** Bucket in the path rather than the host name, as most self-hosted servers want. */
  readonly forcePathStyle?: boolean;
  /** Explicit credentials; absent: the SDK's default chain (environment, profile, instance role). */
  readonly credentials?: S3ClientConfig['credentials'];
}

const notFoundCodes = new Set(['NotFound', 'NoSuchKey']);

function isNotFound(error: unknown): boolean {
  const failure = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return notFoundCodes.has(failure.name ?? '') || failure.$metadata?.httpStatusCode === 404;
}

/** Blobs as objects `<prefix><tenant>/<sha256>` in an S3-compatible bucket. */
export function createS3BlobStore(options: S3BlobStoreOptions): BlobStore & { close(): void } {
  const client = new S3Client({
    region: options.region,
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    forcePathStyle: options.forcePathStyle ?? false,
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
  });
  // Tenants are free text; encoding keeps one tenant's name from reaching into another's prefix.
  const objectKey = (key: BlobKey) => `${options.prefix}${encodeURIComponent(key.tenant)}/${key.sha256}`;
  const store: BlobStore & { close(): void } = {
    async put(key, content) {
      // Same key, same bytes: overwriting is harmless, so no existence check first.
      await client.send(
        new PutObjectCommand({
          Bucket: options.bucket,
          Key: objectKey(key),
          Body: content,
          ContentLength: content.length,
          ChecksumSHA256: Buffer.from(key.sha256, 'hex').toString('base64'),
        }),
      );
    },
    async has(key) {
      try {
        await client.send(new HeadObjectCommand({ Bucket: options.bucket, Key: objectKey(key) }));
        return true;
      } catch (error) {
        if (isNotFound(error)) return false;
        throw error;
      }
    },
    async get(key) {
      try {
        const object = await client.send(
          new GetObjectCommand({ Bucket: options.bucket, Key: objectKey(key) }),
        );
        if (!object.Body) return undefined;
        return Buffer.from(await object.Body.transformToByteArray());
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    },
    async delete(key) {
      await client.send(new DeleteObjectCommand({ Bucket: options.bucket, Key: objectKey(key) }));
    },
    within: () => store,
    close: () => client.destroy(),
  };
  return store;
}
