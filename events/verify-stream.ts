import { type Kysely, sql } from 'kysely';
import type { Database } from './tables.ts';

/** What recomputing one stream's hash chain found. */
export interface StreamVerification {
  /** Every event's hash holds over its predecessor's, versions run 1..n, and the stream head agrees. */
  readonly verified: boolean;
  readonly events: number;
  /** The global position and stream version of the stream's last stored event (0 when empty). */
  readonly lastPosition: number;
  readonly lastVersion: number;
  /** The first version whose event does not hold (altered, or its predecessor gone); absent when verified. */
  readonly firstBadVersion?: number;
  readonly problem?: 'hash-mismatch' | 'missing-previous' | 'stream-head-mismatch';
}

interface CheckedRow {
  readonly events: number;
  readonly last_position: number | null;
  readonly last_version: number | null;
  readonly first_bad_version: number | null;
  readonly first_bad_problem: 'hash-mismatch' | 'missing-previous' | null;
  readonly head_version: number | null;
  readonly head_ok: boolean | null;
}

/**
 * Recomputes one stream's chain with the database's own `event_hash` (the function appends use,
 * so the check cannot drift from the writer), in one query served by the (stream, version) index
 * that answers one row however long the stream: what a job page shows as "history verified". Each
 * event is compared with the *stored* hash of its predecessor, so a rewrite is pinned to the event
 * that was changed; the streams row catches a removed or rewritten tail.
 */
export async function verifyStream(db: Kysely<Database>, streamId: string): Promise<StreamVerification> {
  const { rows } = await sql<CheckedRow>`
    with checked as (
      select e.global_position, e.stream_version, e.hash,
             e.hash = event_hash(coalesce(p.hash, ''::bytea), e.stream_id, e.stream_version, e.event_id, e.type,
                                 e.schema_version, e.data, e.metadata, e.recorded_at) as hash_ok,
             (e.stream_version = 1 or p.global_position is not null) as linked
      from events e
      left join events p on p.stream_id = e.stream_id and p.stream_version = e.stream_version - 1
      where e.stream_id = ${streamId}
    ), last as (
      select stream_version, hash from checked order by stream_version desc limit 1
    )
    select
      (select count(*)::int from checked) as events,
      (select max(global_position) from checked) as last_position,
      (select stream_version from last) as last_version,
      (select min(stream_version) from checked where not (hash_ok and linked)) as first_bad_version,
      (select case when linked then 'hash-mismatch' else 'missing-previous' end
         from checked where not (hash_ok and linked) order by stream_version limit 1) as first_bad_problem,
      s.version as head_version,
      s.last_hash = (select hash from last) as head_ok
    from (select 1) one
    left join streams s on s.stream_id = ${streamId}
  `.execute(db);
  const row = rows[0];
  const lastVersion = Number(row?.last_version ?? 0);
  const summary = {
    events: Number(row?.events ?? 0),
    lastPosition: Number(row?.last_position ?? 0),
    lastVersion,
  };
  if (row?.first_bad_version != null) {
    return {
      verified: false,
      ...summary,
      firstBadVersion: Number(row.first_bad_version),
      problem: row.first_bad_problem ?? 'hash-mismatch',
    };
  }
  const headVersion = Number(row?.head_version ?? 0);
  if (summary.events > 0 && (headVersion !== lastVersion || row?.head_ok !== true)) {
    // The last stored event is not what the head says: the tail was removed or rewritten whole.
    return {
      verified: false,
      ...summary,
      // A head past the last event names the first removed version; otherwise the last one is suspect.
      firstBadVersion: headVersion > lastVersion ? lastVersion + 1 : lastVersion,
      problem: 'stream-head-mismatch',
    };
  }
  return { verified: true, ...summary };
}
