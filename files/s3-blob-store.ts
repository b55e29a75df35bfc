import { createHash, randomUUID } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { BlobKey, BlobStore, StagedBlob } from './blob-store.ts';
import { piecesOf } from './pieces-of.ts';

/** The smallest part S3 accepts in a multipart upload (all but the last): the memory one upload holds. */
const multipartPieceBytes = 5 * 1024 * 1024;

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
  // Apart from every tenant's keys: an encoded tenant name never starts with a dot and a slash.
  const stagingKey = (staged: Pick<StagedBlob, 'stagingId'>) =>
    `${options.prefix}.staging/${staged.stagingId}`;
  const deleteObject = (key: string) =>
    client.send(new DeleteObjectCommand({ Bucket: options.bucket, Key: key }));

  /** Streams pieces to `key`: one PUT when the upload fits in one piece, a multipart upload otherwise. */
  async function upload(key: string, pieces: AsyncIterator<Buffer>): Promise<void> {
    const first = await pieces.next();
    const second = first.done ? first : await pieces.next();
    if (second.done) {
      const body = first.done ? Buffer.alloc(0) : first.value;
      await client.send(
        new PutObjectCommand({ Bucket: options.bucket, Key: key, Body: body, ContentLength: body.length }),
      );
      return;
    }
    const { UploadId } = await client.send(
      new CreateMultipartUploadCommand({ Bucket: options.bucket, Key: key }),
    );
    try {
      const parts: { ETag: string | undefined; PartNumber: number }[] = [];
      const send = async (body: Buffer) => {
        const PartNumber = parts.length + 1;
        const { ETag } = await client.send(
          new UploadPartCommand({
            Bucket: options.bucket,
            Key: key,
            UploadId,
            PartNumber,
            Body: body,
            ContentLength: body.length,
          }),
        );
        parts.push({ ETag, PartNumber });
      };
      await send(first.value as Buffer);
      await send(second.value);
      for (let next = await pieces.next(); !next.done; next = await pieces.next()) await send(next.value);
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: options.bucket,
          Key: key,
          UploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
    } catch (error) {
      await client
        .send(new AbortMultipartUploadCommand({ Bucket: options.bucket, Key: key, UploadId }))
        .catch(() => undefined);
      throw error;
    }
  }

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
    async stage(tenant, chunks) {
      const stagingId = randomUUID();
      const hash = createHash('sha256');
      let size = 0;
      async function* hashed(): AsyncGenerator<Buffer> {
        for await (const piece of piecesOf(chunks, multipartPieceBytes)) {
          hash.update(piece);
          size += piece.length;
          yield piece;
        }
      }
      // A failed upload leaves no object behind (an aborted multipart upload keeps no parts); a
      // crash mid-way can leave one under .staging/, which a bucket lifecycle rule should expire.
      await upload(stagingKey({ stagingId }), hashed());
      return { tenant, stagingId, sha256: hash.digest('hex'), size };
    },
    async promote(staged) {
      const target = { tenant: staged.tenant, sha256: staged.sha256 };
      if (!(await store.has(target))) {
        // A copy inside the bucket: the bytes do not travel through this process again.
        const source = stagingKey(staged).split('/').map(encodeURIComponent).join('/');
        await client.send(
          new CopyObjectCommand({
            Bucket: options.bucket,
            Key: objectKey(target),
            CopySource: `${options.bucket}/${source}`,
          }),
        );
      }
      await deleteObject(stagingKey(staged));
    },
    async discard(staged) {
      await deleteObject(stagingKey(staged));
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
      await deleteObject(objectKey(key));
    },
    within: () => store,
    close: () => client.destroy(),
  };
  return store;
}
