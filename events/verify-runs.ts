import { randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { snapshotXmin } from './anchor-digest.ts';
import { advisoryLockNamespace } from './owned-session.ts';
import type { Database } from './tables.ts';

// The second key of the verify lock, fixed (not hashed) so pg_locks can be asked who holds it.
const verifyLockKey = 0x76657269; // 'veri'

export type VerifyRunStatus = 'running' | 'finished' | 'stopped' | 'abandoned' | 'errored';

export interface VerifyRun {
  readonly id: string;
  readonly status: VerifyRunStatus;
  /** True: only transactions since the last run that verified the whole chain were walked. */
  readonly sinceCheckpoint: boolean;
  readonly eventsChecked: number;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  /** The verification's report once `finished`; for `errored`, `{ error }`. */
  readonly result: ({ readonly ok: boolean } & Record<string, unknown>) | { readonly error: string } | null;
}

export interface VerifyWorkOptions {
  /** Run the walk on this handle: the session that holds the run's lock. */
  readonly db: Kysely<Database>;
  /** Only transactions from this id on (the checkpoint); absent: the whole log. */
  readonly sinceTransactionId?: string;
  /** Report progress after each batch; throws once the run was asked to stop. */
  readonly onProgress: (eventsChecked: number) => Promise<void>;
}

export interface VerifyRunsDeps {
  readonly db: Kysely<Database>;
  /** The verification itself (the chain walk, then stored files); its report is the run's result. */
  readonly work: (options: VerifyWorkOptions) => Promise<{ readonly ok: boolean } & Record<string, unknown>>;
  readonly onError?: (error: unknown) => void;
}

export interface VerifyRuns {
  /**
   * Starts a run, or joins the one already running anywhere in the deployment (one at a time:
   * verifying twice at once only doubles the load). `started` says which.
   */
  start(options?: { readonly sinceCheckpoint?: boolean }): Promise<{ run: VerifyRun; started: boolean }>;
  /** A run by id, from any replica; a run whose owner is gone is reported (and recorded) as abandoned. */
  get(id: string): Promise<VerifyRun | undefined>;
  /** Asks the run's owner to stop after its current batch; the run answers `stopped` once it has. */
  stop(id: string): Promise<VerifyRun | undefined>;
  /** The run once it is no longer running, or as it is after `timeoutMs`. */
  wait(id: string, timeoutMs: number): Promise<VerifyRun | undefined>;
}

/** The owner's walk was asked to stop (DELETE on the run). */
class VerifyStopped extends Error {
  readonly code = 'verify-stopped';
}

interface RunRow {
  readonly id: string;
  readonly status: VerifyRunStatus;
  readonly since_checkpoint: boolean;
  readonly events_checked: number;
  readonly started_at: Date;
  readonly finished_at: Date | null;
  readonly result: VerifyRun['result'];
  readonly owned: boolean;
}

const toRun = (row: RunRow): VerifyRun => ({
  id: row.id,
  status: row.status,
  sinceCheckpoint: row.since_checkpoint,
  eventsChecked: Number(row.events_checked),
  startedAt: row.started_at.toISOString(),
  finishedAt: row.finished_at?.toISOString() ?? null,
  result: row.result,
});

const selectRun = sql`
  select r.id, r.status, r.from_transaction_id is not null as since_checkpoint, r.events_checked,
         r.started_at, r.finished_at, r.result,
         exists (select from pg_locks l where l.locktype = 'advisory' and l.granted and l.pid = r.owner_pid
                   and l.classid = ${advisoryLockNamespace} and l.objid = ${verifyLockKey} and l.objsubid = 2) as owned
  from verify_runs r
`;

/**
 * Verification as a background run that outlives the request that asked for it but never its
 * owner: the owner holds a session advisory lock on the connection the walk runs on, for the whole
 * run, so at most one runs per database, and a crashed owner's lock goes with its session.
 */
export function createVerifyRuns(deps: VerifyRunsDeps): VerifyRuns {
  const { db } = deps;
  const local = new Map<string, Promise<void>>();

  async function get(id: string): Promise<VerifyRun | undefined> {
    const { rows } = await sql<RunRow>`${selectRun} where r.id = ${id}::uuid`.execute(db);
    const row = rows[0];
    if (!row) return undefined;
    if (row.status !== 'running' || row.owned || local.has(id)) return toRun(row);
    // Running with no owner: the process died mid-run. Record it, so nobody waits on it.
    await sql`
      update verify_runs set status = 'abandoned', finished_at = now(), updated_at = now()
      where id = ${id}::uuid and status = 'running'
    `.execute(db);
    return get(id);
  }

  async function running(): Promise<VerifyRun | undefined> {
    const { rows } =
      await sql<RunRow>`${selectRun} where r.status = 'running' order by r.started_at desc`.execute(db);
    const owned = rows.find((row) => row.owned);
    for (const row of rows) if (row !== owned) await get(row.id);
    return owned && toRun(owned);
  }

  function begin(sinceCheckpoint: boolean): Promise<VerifyRun | undefined> {
    return new Promise<VerifyRun | undefined>((resolve, reject) => {
      let announced = false;
      const id = randomUUID();
      // The whole run on one pooled connection: its lock is its ownership.
      const done = db
        .connection()
        .execute(async (session) => {
          const { rows } = await sql<{ locked: boolean; pid: number }>`
            select pg_try_advisory_lock(${advisoryLockNamespace}, ${verifyLockKey}) as locked, pg_backend_pid() as pid
          `.execute(session);
          if (!rows[0]?.locked) {
            announced = true;
            resolve(undefined);
            return;
          }
          try {
            const below = await snapshotXmin(session);
            const checkpoint = sinceCheckpoint ? await lastCheckpoint(session) : undefined;
            await sql`
              insert into verify_runs (id, status, from_transaction_id, below_transaction_id, owner_pid)
              values (${id}::uuid, 'running', ${checkpoint ?? null}::xid8, ${below}::xid8, ${rows[0].pid})
            `.execute(session);
            // Runs are kept a month: enough to poll and audit, and a monitor polling every minute
            // never grows the table past ~45k rows. An older checkpoint only means a full walk.
            await sql`
              delete from verify_runs where status <> 'running' and started_at < now() - interval '30 days'
            `.execute(session);
            local.set(id, done);
            const run = await get(id);
            // From here on the caller has the run: what goes wrong later is the run's, not the start's.
            announced = true;
            resolve(run);
            await execute(session, id, checkpoint);
          } finally {
            local.delete(id);
            await sql`select pg_advisory_unlock(${advisoryLockNamespace}, ${verifyLockKey})`.execute(session);
          }
        })
        .catch((error: unknown) => {
          if (!announced) reject(error);
          else deps.onError?.(error);
        });
    });
  }

  async function lastCheckpoint(session: Kysely<Database>): Promise<string | undefined> {
    const { rows } = await sql<{ below: string }>`
      select below_transaction_id::text as below from verify_runs
      where status = 'finished' and (result->>'ok')::boolean
      order by started_at desc limit 1
    `.execute(session);
    // No run ever verified the chain: the first "since checkpoint" walks all of it.
    return rows[0]?.below ?? '0';
  }

  async function execute(session: Kysely<Database>, id: string, since: string | undefined): Promise<void> {
    try {
      const result = await deps.work({
        db: session,
        ...(since === undefined ? {} : { sinceTransactionId: since }),
        onProgress: async (eventsChecked) => {
          // Progress and the stop request in one round trip (the row lives where any replica sees it).
          const { rows } = await sql<{ stop: boolean }>`
            update verify_runs set events_checked = ${eventsChecked}, updated_at = now()
            where id = ${id}::uuid returning stop_requested as stop
          `.execute(db);
          if (rows[0]?.stop) throw new VerifyStopped('stopped on request');
        },
      });
      await sql`
        update verify_runs set status = 'finished', result = ${JSON.stringify(result)}::jsonb,
          events_checked = ${Number(result.eventsChecked ?? 0)}, finished_at = now(), updated_at = now()
        where id = ${id}::uuid
      `.execute(db);
    } catch (error) {
      const stopped = error instanceof VerifyStopped;
      // A client sees a stable word, never a SQL message; the log keeps the error.
      if (!stopped) deps.onError?.(error);
      await sql`
        update verify_runs set status = ${stopped ? 'stopped' : 'errored'},
          result = ${stopped ? null : JSON.stringify({ error: 'verification-failed' })}::jsonb,
          finished_at = now(), updated_at = now()
        where id = ${id}::uuid
      `.execute(db);
    }
  }

  return {
    async start(options = {}) {
      for (let attempt = 0; attempt < 20; attempt += 1) {
        const existing = await running();
        if (existing) return { run: existing, started: false };
        const run = await begin(options.sinceCheckpoint === true);
        if (run) return { run, started: true };
        // Someone holds the lock but has not recorded its run yet: look again shortly.
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      throw new Error('the verify lock is held but no run is recorded');
    },
    get,
    async stop(id) {
      await sql`update verify_runs set stop_requested = true where id = ${id}::uuid and status = 'running'`.execute(
        db,
      );
      return get(id);
    },
    async wait(id, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      const mine = local.get(id);
      if (mine) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([mine, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
        clearTimeout(timer);
        return get(id);
      }
      for (;;) {
        const run = await get(id);
        if (run?.status !== 'running' || Date.now() >= deadline) return run;
        await new Promise((resolve) =>
          setTimeout(resolve, Math.min(100, Math.max(0, deadline - Date.now()))),
        );
      }
    },
  };
}
