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
  readonly global_position: number;
  readonly stream_version: number;
  readonly hash_ok: boolean;
  readonly linked: boolean;
  readonly head_version: number | null;
  readonly head_ok: boolean | null;
}

/**
 * Recomputes one stream's chain with the database's own `event_hash` (the function appends use,
 * so the check cannot drift from the writer), in one query served by the (stream, version) index:
 * what a job page shows as "history verified". Each event is compared with the *stored* hash of
 * its predecessor, so a rewrite is pinned to the event that was changed; the streams row catches a
 * removed or rewritten tail.
 */
export async function verifyStream(db: Kysely<Database>, streamId: string): Promise<StreamVerification> {
  const { rows } = await sql<CheckedRow>`
    select e.global_position, e.stream_version,
           e.hash = event_hash(coalesce(p.hash, ''::bytea), e.stream_id, e.stream_version, e.event_id, e.type,
                               e.schema_version, e.data, e.metadata, e.recorded_at) as hash_ok,
           (e.stream_version = 1 or p.global_position is not null) as linked,
           s.version as head_version,
           s.last_hash = e.hash as head_ok
    from events e
    left join events p on p.stream_id = e.stream_id and p.stream_version = e.stream_version - 1
    left join streams s on s.stream_id = e.stream_id
    where e.stream_id = ${streamId}
    order by e.stream_version
  `.execute(db);
  const last = rows.at(-1);
  const summary = {
    events: rows.length,
    lastPosition: Number(last?.global_position ?? 0),
    lastVersion: Number(last?.stream_version ?? 0),
  };
  const broken = rows.find((row) => !row.hash_ok || !row.linked);
  if (broken) {
    return {
      verified: false,
      ...summary,
      firstBadVersion: Number(broken.stream_version),
      problem: broken.linked ? 'hash-mismatch' : 'missing-previous',
    };
  }
  if (last && (Number(last.head_version) !== Number(last.stream_version) || last.head_ok !== true)) {
    // The last stored event is not what the head says: the tail was removed or rewritten whole.
    return {
      verified: false,
      ...summary,
      // A head past the last event names the first removed version; otherwise the last one is suspect.
      firstBadVersion:
        Number(last.head_version) > Number(last.stream_version)
          ? Number(last.stream_version) + 1
          : Number(last.stream_version),
      problem: 'stream-head-mismatch',
    };
  }
  return { verified: true, ...summary };
}
