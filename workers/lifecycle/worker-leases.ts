import { type Kysely, sql } from 'kysely';
import type { Database } from '../../events/tables.ts';

// The attempts a worker holds live in the lease table too, as rows keyed `<worker>/holds/<job>-<n>`
// beside a marker `<worker>/holds`, sharing the worker's expiry: no schema change, one renewal
// extends them all, and a worker without the marker (an older version) is judged by its lease alone.
const holdsMarker = (workerId: string) => `${workerId}/holds`;
const holdKey = (workerId: string, jobId: string, attempt: number) =>
  `${holdsMarker(workerId)}/${jobId}-${attempt}`;

/** An attempt a worker says it holds. */
export interface HeldAttempt {
  readonly jobId: string;
  readonly attempt: number;
}

/**
 * Worker liveness in Postgres, not Redis: a Redis wipe must not make every live worker look dead
 * (its attempts would be abandoned and its containers reaped while they run).
 */
export function createWorkerLeases(db: Kysely<Database>) {
  return {
    /** Claims or extends this worker's lease (and the attempts it holds) until now + leaseMs (the database's clock). */
    async renew(workerId: string, leaseMs: number): Promise<void> {
      await sql`
        with lease as (
          insert into worker_leases (worker_id, expires_at) values (${workerId}, now() + ${leaseMs} * interval '1 millisecond')
          on conflict (worker_id) do update set expires_at = excluded.expires_at
          returning expires_at
        )
        update worker_leases set expires_at = (select expires_at from lease)
        where starts_with(worker_id, ${`${holdsMarker(workerId)}`})
      `.execute(db);
    },
    async release(workerId: string): Promise<void> {
      await sql`
        delete from worker_leases where worker_id = ${workerId} or starts_with(worker_id, ${holdsMarker(workerId)})
      `.execute(db);
    },
    async isAlive(workerId: string): Promise<boolean> {
      const { rows } =
        await sql`select 1 from worker_leases where worker_id = ${workerId} and expires_at > now()`.execute(
          db,
        );
      return rows.length > 0;
    },
    /**
     * Records that this worker runs (or keeps the outcome of) these attempts, until `drop`.
     * Written while their starts are appended, so a running attempt is never seen unheld by a live
     * worker for longer than the reconciler's grace. One statement for any number of attempts.
     */
    async hold(workerId: string, attempts: readonly HeldAttempt[]): Promise<void> {
      if (attempts.length === 0) return;
      // Each key once: a redelivered message holds its attempt twice in one group, and one insert
      // may not touch a row twice (ON CONFLICT DO UPDATE refuses the whole statement).
      const keys = [
        ...new Set([
          holdsMarker(workerId),
          ...attempts.map(({ jobId, attempt }) => holdKey(workerId, jobId, attempt)),
        ]),
      ];
      await sql`
        insert into worker_leases (worker_id, expires_at)
        select key, expires_at from worker_leases, unnest(${keys}::text[]) as key
        where worker_id = ${workerId}
        on conflict (worker_id) do update set expires_at = excluded.expires_at
      `.execute(db);
    },
    async drop(workerId: string, attempts: readonly HeldAttempt[]): Promise<void> {
      if (attempts.length === 0) return;
      const keys = attempts.map(({ jobId, attempt }) => holdKey(workerId, jobId, attempt));
      await sql`delete from worker_leases where worker_id = any(${keys}::text[])`.execute(db);
    },
    /**
     * Whether a live worker says it holds this attempt; undefined when the worker does not list
     * its attempts (an older version), so only its lease can be judged.
     */
    async holds(workerId: string, jobId: string, attempt: number): Promise<boolean | undefined> {
      const { rows } = await sql<{ worker_id: string }>`
        select worker_id from worker_leases
        where worker_id in (${holdsMarker(workerId)}, ${holdKey(workerId, jobId, attempt)}) and expires_at > now()
      `.execute(db);
      if (!rows.some((row) => row.worker_id === holdsMarker(workerId))) return undefined;
      return rows.some((row) => row.worker_id === holdKey(workerId, jobId, attempt));
    },
    /** Deletes the rows of workers whose leases lapsed long ago (crashed without a release). */
    async prune(olderThanMs: number): Promise<void> {
      await sql`delete from worker_leases where expires_at < now() - ${olderThanMs} * interval '1 millisecond'`.execute(
        db,
      );
    },
  };
}

export type WorkerLeases = ReturnType<typeof createWorkerLeases>;
