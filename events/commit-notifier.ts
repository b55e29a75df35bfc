import { type Kysely, sql } from 'kysely';
import type { Database } from './tables.ts';

/** Announces a committed append to LISTENers of `omni_events`; the payload is the stream id. */
export type CommitNotifier = (streamId: string) => void;

/**
 * Sends `NOTIFY omni_events, <stream id>` after appends, outside their transactions (see migration
 * 0004 for why). At most one NOTIFY statement is in flight per store: streams appended meanwhile
 * are sent together in the next one, so a burst of appends costs a few statements, not one each.
 * Fire and forget: a lost notification costs a subscriber latency (it polls), never an event.
 */
export function createCommitNotifier(db: Kysely<Database>): CommitNotifier {
  let pending = new Set<string>();
  let flushing = false;
  const flush = async () => {
    flushing = true;
    while (pending.size > 0) {
      const streams = [...pending];
      pending = new Set();
      try {
        await sql`select pg_notify('omni_events', stream_id) from unnest(${streams}::text[]) as stream_id`.execute(
          db,
        );
      } catch {
        // The pool may be closing, or the database briefly away: readers fall back to polling.
      }
    }
    flushing = false;
  };
  return (streamId) => {
    pending.add(streamId);
    if (!flushing) void flush();
  };
}
