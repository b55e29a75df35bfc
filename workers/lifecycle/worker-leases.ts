import { type Kysely, sql } from 'kysely';
import type { Database } from '../../events/tables.ts';

/**
 * Worker liveness in Postgres, not Redis: a Redis wipe must not make every live worker look dead
 * (its attempts would be abandoned and its containers reaped while they run).
 */
export function createWorkerLeases(db: Kysely<Database>) {
  return {
    /** Claims or extends this worker's lease until now + leaseMs (the database's clock). */
    async renew(workerId: string, leaseMs: number): Promise<void> {
      await sql`
        insert into worker_leases (worker_id, expires_at) values (${workerId}, now() + ${leaseMs} * interval '1 millisecond')
        on conflict (worker_id) do update set expires_at = excluded.expires_at
      `.execute(db);
    },
    async release(workerId: string): Promise<void> {
      await sql`delete from worker_leases where worker_id = ${workerId}`.execute(db);
    },
    async isAlive(workerId: string): Promise<boolean> {
      const { rows } =
        await sql`select 1 from worker_leases where worker_id = ${workerId} and expires_at > now()`.execute(
          db,
        );
      return rows.length > 0;
    },
  };
}

export type WorkerLeases = ReturnType<typeof createWorkerLeases>;
