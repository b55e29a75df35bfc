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
  /**
   * The first event (in commit order) whose stored hash is not the hash of its own fields over its
   * predecessor's stored hash, recomputed here rather than by the database; undefined: all hold.
   */
  readonly brokenEvent?: {
    readonly position: number;
    readonly streamId: string;
    readonly streamVersion: number;
  };
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

interface DigestRow {
  readonly transaction_id: string;
  readonly global_position: number;
  readonly hash: Buffer;
  readonly stream_id: string;
  readonly stream_version: string;
  readonly event_id: string;
  readonly type: string;
  readonly schema_version: string;
  readonly data: string;
  readonly metadata: string;
  readonly epoch: string;
  /** The stored hash of the event before it in its stream; null for version 1 (or when it is gone). */
  readonly previous_hash: Buffer | null;
}

/**
 * The event hash of migration 0001's `event_hash`, computed here: a superuser can replace that
 * function (or any other) so the database vouches for what it holds, but not change what this
 * computes. The fields arrive as the database's text forms (jsonb's is canonical; the epoch is
 * independent of DateStyle and TimeZone), exactly the bytes `event_hash` joins.
 */
function eventHash(row: DigestRow): Buffer {
  const fields = [
    row.stream_id,
    row.stream_version,
    row.event_id,
    row.type,
    row.schema_version,
    row.data,
    row.metadata,
    row.epoch,
  ].join('\n');
  return createHash('sha256')
    .update(row.previous_hash ?? Buffer.alloc(0))
    .update(fields, 'utf8')
    .digest();
}

/**
 * Reads a range of the log in commit order, recomputes every event's hash from its fields, and
 * folds the stored hashes into a running hash: SHA-256 of a domain tag, the previous anchor's root,
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
  let brokenEvent: RangeDigest['brokenEvent'];
  for (;;) {
    const end = options.through
      ? sql`and (e.transaction_id, e.global_position) <= (${options.through.transactionId}::xid8, ${options.through.position}::bigint)`
      : sql`and e.transaction_id < ${options.belowTransactionId}::xid8`;
    // Every field as text: the bytes the hash covers, not a value the driver parses and re-renders.
    const { rows } = await sql<DigestRow>`
      select e.transaction_id::text as transaction_id, e.global_position, e.hash, e.stream_id,
             e.stream_version::text as stream_version, e.event_id::text as event_id, e.type,
             e.schema_version::text as schema_version, e.data::text as data, e.metadata::text as metadata,
             extract(epoch from e.recorded_at)::text as epoch, p.hash as previous_hash
      from events e
      left join events p on p.stream_id = e.stream_id and p.stream_version = e.stream_version - 1
      where (e.transaction_id, e.global_position) > (${after.transactionId}::xid8, ${after.position}::bigint)
        ${end}
      order by e.transaction_id, e.global_position
      limit ${batchSize}
    `.execute(db);
    for (const row of rows) {
      prefix.writeBigUInt64BE(BigInt(row.global_position), 0);
      prefix.writeUInt8(Math.min(row.hash.length, 255), 8);
      hash.update(prefix).update(row.hash);
      const linked = row.stream_version === '1' || row.previous_hash !== null;
      if (!brokenEvent && (!linked || !eventHash(row).equals(row.hash))) {
        brokenEvent = {
          position: Number(row.global_position),
          streamId: row.stream_id,
          streamVersion: Number(row.stream_version),
        };
      }
    }
    count += rows.length;
    const tail = rows.at(-1);
    if (tail) {
      last = { transactionId: tail.transaction_id, position: Number(tail.global_position) };
      after = last;
    }
    if (rows.length < batchSize) break;
  }
  return { count, root: hash.digest('hex'), last, ...(brokenEvent ? { brokenEvent } : {}) };
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
