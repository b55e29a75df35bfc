import { createHash } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { Database } from './tables.ts';

/** A place in the log's commit order: (transaction id, global position), as readAll orders it. */
export interface CommitCursor {
  readonly transactionId: string;
  readonly position: number;
}

/** The root before the first anchor. */
export const genesisRoot = '0'.repeat(64);

export interface RangeDigest {
  readonly count: number;
  readonly root: string;
  /** The last event digested; undefined when the range was empty. */
  readonly last: CommitCursor | undefined;
}

export interface DigestRangeOptions {
  /** Digest events after this cursor (absent: from the start of the log). */
  readonly after: CommitCursor | undefined;
  /** ...up to and including this one; absent: every event of a transaction below `belowTransactionId`. */
  readonly through?: CommitCursor;
  /** Required without `through`: a transaction id no running transaction is below (a snapshot's xmin). */
  readonly belowTransactionId?: string;
  /** The previous anchor's root (the genesis root for the first). */
  readonly previousRoot: string;
  readonly batchSize?: number;
}

/**
 * Running hash over the log in commit order: SHA-256 of a domain tag, the previous anchor's root,
 * then, per event, its global position (8 bytes, big-endian), its hash's length (1 byte) and its
 * hash. The event hash already covers the stream, version, id, type, data, metadata, time and (by
 * the chain) everything before it in its stream; the position and the order are what this adds, so
 * a rewrite that keeps every per-stream chain consistent still changes the root.
 */
export async function digestRange(db: Kysely<Database>, options: DigestRangeOptions): Promise<RangeDigest> {
  const batchSize = options.batchSize ?? 20_000;
  if (!options.through && options.belowTransactionId === undefined) {
    throw new Error('digestRange needs an end: through or belowTransactionId');
  }
  const hash = createHash('sha256')
    .update('omni-anchor-v1\n')
    .update(Buffer.from(options.previousRoot, 'hex'));
  const prefix = Buffer.alloc(9);
  let after = options.after ?? { transactionId: '0', position: 0 };
  let count = 0;
  let last: CommitCursor | undefined;
  for (;;) {
    const end = options.through
      ? sql`and (transaction_id, global_position) <= (${options.through.transactionId}::xid8, ${options.through.position}::bigint)`
      : sql`and transaction_id < ${options.belowTransactionId}::xid8`;
    const { rows } = await sql<{ transaction_id: string; global_position: number; hash: Buffer }>`
      select transaction_id::text as transaction_id, global_position, hash from events
      where (transaction_id, global_position) > (${after.transactionId}::xid8, ${after.position}::bigint)
        ${end}
      order by events.transaction_id, events.global_position
      limit ${batchSize}
    `.execute(db);
    for (const row of rows) {
      prefix.writeBigUInt64BE(BigInt(row.global_position), 0);
      prefix.writeUInt8(Math.min(row.hash.length, 255), 8);
      hash.update(prefix).update(row.hash);
    }
    count += rows.length;
    const tail = rows.at(-1);
    if (tail) {
      last = { transactionId: tail.transaction_id, position: Number(tail.global_position) };
      after = last;
    }
    if (rows.length < batchSize) break;
  }
  return { count, root: hash.digest('hex'), last };
}

/** The oldest transaction still running: everything below it has committed or aborted for good. */
export async function snapshotXmin(db: Kysely<Database>): Promise<string> {
  const { rows } = await sql<{ xmin: string }>`
    select pg_snapshot_xmin(pg_current_snapshot())::text as xmin
  `.execute(db);
  const xmin = rows[0]?.xmin;
  if (xmin === undefined) throw new Error('no snapshot');
  return xmin;
}
