import { createHash, randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../events/tables.ts';
import { type BlobKey, type BlobStore, stagingChunkBytes } from './blob-store.ts';
import { piecesOf } from './pieces-of.ts';

/** Staged pieces older than this belong to an upload that died: nothing will promote them. */
const abandonedStagingAge = '1 hour';
/** How often a store sweeps them: an upload then costs no extra statement but once in a while. */
const sweepEveryMs = 60_000;

/** The default blob store: a `blobs` table, so a deployment needs no server besides Postgres. */
export function createPostgresBlobStore(db: Kysely<Database>): BlobStore {
  return postgresBlobStore(db, { lastSweep: Number.NEGATIVE_INFINITY });
}

/** The store over `db`; `sweeps` is shared with the stores it makes `within` a transaction. */
function postgresBlobStore(db: Kysely<Database>, sweeps: { lastSweep: number }): BlobStore {
  const where = (key: BlobKey) =>
    db
      .selectFrom('blobs')
      .where('tenant', '=', key.tenant)
      .where('sha256', '=', Buffer.from(key.sha256, 'hex'));
  const dropStaging = async (stagingId: string) => {
    await db.deleteFrom('blob_staging').where('staging_id', '=', stagingId).execute();
  };
  return {
    async put(key, content) {
      await db
        .insertInto('blobs')
        .values({ tenant: key.tenant, sha256: Buffer.from(key.sha256, 'hex'), size: content.length, content })
        .onConflict((conflict) => conflict.columns(['tenant', 'sha256']).doNothing())
        .execute();
    },
    async stage(tenant, chunks) {
      if (performance.now() - sweeps.lastSweep >= sweepEveryMs) {
        sweeps.lastSweep = performance.now();
        await db
          .deleteFrom('blob_staging')
          .where('staged_at', '<', sql<Date>`now() - ${abandonedStagingAge}::interval`)
          .execute();
      }
      const stagingId = randomUUID();
      const hash = createHash('sha256');
      let size = 0;
      let piece = 0;
      try {
        // Each piece commits on its own: the upload never holds a transaction open while it streams.
        for await (const content of piecesOf(chunks, stagingChunkBytes)) {
          hash.update(content);
          size += content.length;
          await db.insertInto('blob_staging').values({ staging_id: stagingId, piece, content }).execute();
          piece += 1;
        }
      } catch (error) {
        await dropStaging(stagingId).catch(() => undefined);
        throw error;
      }
      return { tenant, stagingId, sha256: hash.digest('hex'), size };
    },
    async promote(staged) {
      const { bytes } = await db
        .selectFrom('blob_staging')
        .select(sql<string>`coalesce(sum(octet_length(content)), 0)::bigint`.as('bytes'))
        .where('staging_id', '=', staged.stagingId)
        .executeTakeFirstOrThrow();
      // Swept as abandoned meanwhile, or never fully written: joining what is left would store
      // bytes that do not match the hash.
      if (Number(bytes) !== staged.size) throw new Error('the staged upload is incomplete; send it again');
      // Postgres joins the pieces: the bytes never pass through this process whole.
      await sql`
        insert into blobs (tenant, sha256, size, content)
        select ${staged.tenant}, ${Buffer.from(staged.sha256, 'hex')}, ${staged.size},
               coalesce(string_agg(content, ''::bytea order by piece), ''::bytea)
        from blob_staging where staging_id = ${staged.stagingId}
        on conflict (tenant, sha256) do nothing
      `.execute(db);
      await dropStaging(staged.stagingId);
    },
    discard: (staged) => dropStaging(staged.stagingId),
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
    within: (transaction) => postgresBlobStore(transaction, sweeps),
  };
}
