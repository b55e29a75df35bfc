import { type Kysely, sql } from 'kysely';
import type { Database } from './tables.ts';

/** Announces a committed append to LISTENers of `omni_events`; the payload is the stream id. */
export type NotifyAfterCommit = (streamId: string) => void;

/** How long after one NOTIFY statement the next may be sent; appends meanwhile share it. */
const minimumIntervalMs = 5;

/**
 * Sends `NOTIFY omni_events, <stream id>` after appends, outside their transactions (see migration
 * 0004 for why). At most one NOTIFY statement is in flight per store, and at most one starts per
 * `minimumIntervalMs`: streams appended meanwhile are sent together in the next one, so a burst of
 * appends costs a few statements, not one each. A NOTIFY is a transaction of its own (it takes a
 * transaction id and a database-wide lock at commit); one per append cost a single writer as much
 * server time as the append. An append after a quiet spell is announced at once, a busy stream's
 * within a few milliseconds.
 * Fire and forget: a lost notification costs a subscriber latency (it polls), never an event.
 */
export function createNotifyAfterCommit(db: Kysely<Database>): NotifyAfterCommit {
  // A store over a transaction must send before the caller commits, on the same connection.
  const interval = db.isTransaction ? 0 : minimumIntervalMs;
  let pending = new Set<string>();
  let flushing = false;
  let lastSent = Number.NEGATIVE_INFINITY;
  const flush = async () => {
    flushing = true;
    while (pending.size > 0) {
      const wait = lastSent + interval - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const streams = [...pending];
      pending = new Set();
      lastSent = performance.now();
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
