import type { Selectable } from 'kysely';
import type { JobStatus } from '../schemas/job-status.schema.ts';

/**
 * The jobs read model (migrations 0003, 0021 and 0063), as the driver returns its rows. The jobs
 * projection writes it (with unnest, not through Kysely), so every column has one type. It lives
 * here, not in events/tables.ts, because the event store knows nothing about jobs; its readers
 * query it with SQL of their own (a replay writes a shadow table named at run time, the list sorts
 * on `submitted_at::text`), so no Kysely `Database` names it yet: a query built with Kysely would
 * add it with `db.withTables<{ jobs: JobsTable }>()`.
 */
export interface JobsTable {
  readonly id: string;
  // Nullable in the table; the projection always writes one (the default tenant if the job named none).
  readonly tenant: string | null;
  readonly status: JobStatus;
  readonly image: string;
  readonly attempt: number;
  readonly submitted_by: string | null;
  readonly submitted_at: Date;
  readonly started_at: Date | null;
  readonly finished_at: Date | null;
  readonly exit_code: number | null;
  readonly failure_reason: string | null;
  readonly failure_message: string | null;
  readonly worker_id: string | null;
  readonly duration_ms: number | null;
  /** 0..100, higher first (null: the default). */
  readonly priority: number | null;
  /** A queued attempt's not-before (a delayed job, a retry's backoff) and its queue-wait deadline. */
  readonly due_at: Date | null;
  readonly expires_at: Date | null;
  readonly cancelled_by: string | null;
  /** The spec's labels ({} when it had none). */
  readonly labels: Readonly<Record<string, string>>;
  /** The command's words joined by spaces: shown in lists and searched by `?q=`. */
  readonly command: string;
  /** The job stream's version and the global position folded last: how fresh the row is. */
  readonly version: number;
  readonly last_position: number;
}

/** A jobs row as the driver returns it: timestamps as Dates. */
export type JobsTableRow = Selectable<JobsTable>;

/**
 * A row as Postgres' `to_jsonb` renders it: every timestamp an ISO string, so it round-trips
 * through the projection unchanged.
 */
export type JsonRow<Row> = {
  readonly [Column in keyof Row]: Exclude<Row[Column], Date> | (Date extends Row[Column] ? string : never);
};
