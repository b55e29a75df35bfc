import type { Kysely } from 'kysely';
import type { Database } from '../events/tables.ts';
import type { BlobKey, BlobStore } from './blob-store.ts';

/** The default blob store: a `blobs` table, so a deployment needs no server besides Postgres. */
export function createPostgresBlobStore(db: Kysely<Database>): BlobStore {
  const where = (key: BlobKey) =>
    db
      .selectFrom('blobs')
      .where('tenant', '=', key.tenant)
      .where('sha256', '=', Buffer.from(key.sha256, 'hex'));
  return {
    async put(key, content) {
      await db
        .insertInto('blobs')
        .values({ tenant: key.tenant, sha256: Buffer.from(key.sha256, 'hex'), size: content.length, content })
        .onConflict((conflict) => conflict.columns(['tenant', 'sha256']).doNothing())
        .execute();
    },
    async has(key) {
      return (await where(key).select('size').executeTakeFirst()) !== undefined;
    },
    async get(key) {
      return (await where(key).select('content').executeTakeFirst())?.content;
    },
    async delete(key) {
      await db
        .deleteFrom('blobs')
        .where('tenant', '=', key.tenant)
        .where('sha256', '=', Buffer.from(key.sha256, 'hex'))
        .execute();
    },
    within: (transaction) => createPostgresBlobStore(transaction),
  };
}
