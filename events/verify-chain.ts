import { type Kysely, sql } from 'kysely';
import type { Database } from './tables.ts';

export type ChainVerification =
  | { readonly ok: true; readonly eventsChecked: number }
  | {
      readonly ok: false;
      /** The global position of the first event (in log order) whose hash does not hold. */
      readonly firstBrokenPosition: number;
      readonly streamId: string;
      readonly streamVersion: number;
      /** What is wrong there: the event's own bytes, or its link to the previous event. */
      readonly problem: 'hash-mismatch' | 'missing-previous' | 'stream-head-mismatch';
      readonly eventsChecked: number;
    };

export interface VerifyChainOptions {
  /**
   * Called after each batch with the number of events checked so far; awaited, and what it throws
   * ends the walk (how a run is stopped).
   */
  readonly onProgress?: (eventsChecked: number) => void | Promise<void>;
  readonly batchSize?: number;
  /**
   * Only events of transactions from this id on (xid8 as text), walked in commit order: what a
   * checkpoint leaves to check. Each event is still checked against the stored hash of its
   * predecessor wherever that is, so the increment's links to older events are checked too.
   */
  readonly sinceTransactionId?: string;
}

interface CheckedRow {
  readonly global_position: number;
  readonly transaction_id: string;
  readonly stream_id: string;
  readonly stream_version: number;
  readonly hash_ok: boolean;
  readonly linked: boolean;
}

/**
 * Walks the whole log in global-position order and recomputes every event's hash over the stored
 * hash of the previous event in its stream; reports the first event where the chain breaks.
 */
export async function verifyChain(
  db: Kysely<Database>,
  options: VerifyChainOptions = {},
): Promise<ChainVerification> {
  const batchSize = options.batchSize ?? 5000;
  const since = options.sinceTransactionId;
  let after = 0;
  let afterTransaction = since ?? '0';
  let eventsChecked = 0;
  for (;;) {
    // A full walk goes by position (the primary key); an increment by commit order, which the
    // (transaction_id, global_position) index serves without scanning what came before it.
    const range =
      since === undefined
        ? sql`e.global_position > ${after} order by e.global_position`
        : sql`(e.transaction_id, e.global_position) > (${afterTransaction}::xid8, ${after}::bigint)
              and e.transaction_id >= ${since}::xid8
              order by e.transaction_id, e.global_position`;
    // The previous event is found by (stream, version - 1) through the unique index, so each batch
    // stands alone: no window has to span batches. Comparing against the *stored* previous hash
    // pins a rewrite to the event that was changed, even if the attacker recomputed its hash (the
    // next event then breaks instead, and the stream head check catches a rewritten tail).
    const { rows } = await sql<CheckedRow>`
      select e.global_position, e.transaction_id::text as transaction_id, e.stream_id, e.stream_version,
             e.hash = event_hash(coalesce(p.hash, ''::bytea), e.stream_id, e.stream_version, e.event_id, e.type,
                                 e.schema_version, e.data, e.metadata, e.recorded_at) as hash_ok,
             (e.stream_version = 1 or p.global_position is not null) as linked
      from events e
      left join events p on p.stream_id = e.stream_id and p.stream_version = e.stream_version - 1
      where ${range}
      limit ${batchSize}
    `.execute(db);
    for (const row of rows) {
      eventsChecked += 1;
      if (!row.hash_ok || !row.linked) {
        return {
          ok: false,
          firstBrokenPosition: row.global_position,
          streamId: row.stream_id,
          streamVersion: row.stream_version,
          problem: row.linked ? 'hash-mismatch' : 'missing-previous',
          eventsChecked,
        };
      }
    }
    await options.onProgress?.(eventsChecked);
    const last = rows.at(-1);
    if (!last || rows.length < batchSize) break;
    after = last.global_position;
    afterTransaction = last.transaction_id;
  }
  return (await checkStreamHeads(db, eventsChecked)) ?? { ok: true, eventsChecked };
}

/**
 * The chain proves each event against its predecessor; only the streams table can prove nothing
 * was removed or rewritten at a stream's end. Checks streams whose head disagrees with their last
 * event (deleted tail, or a tail rewritten with recomputed hashes).
 */
async function checkStreamHeads(
  db: Kysely<Database>,
  eventsChecked: number,
): Promise<ChainVerification | undefined> {
  const { rows } = await sql<{ global_position: number | null; stream_id: string; stream_version: number }>`
    select last.global_position, s.stream_id, s.version as stream_version
    from streams s
    left join lateral (
      select e.global_position, e.stream_version, e.hash from events e
      where e.stream_id = s.stream_id order by e.stream_version desc limit 1
    ) last on true
    where s.version > 0
      and (last.global_position is null or last.stream_version <> s.version or last.hash <> s.last_hash)
    order by last.global_position nulls first
    limit 1
  `.execute(db);
  const broken = rows[0];
  if (!broken) return undefined;
  return {
    ok: false,
    firstBrokenPosition: broken.global_position ?? 0,
    streamId: broken.stream_id,
    streamVersion: broken.stream_version,
    problem: 'stream-head-mismatch',
    eventsChecked,
  };
}
