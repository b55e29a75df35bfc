import { type Kysely, sql } from 'kysely';
import type { RecordedEvent } from '../events/event-store.ts';
import { arrayLiteral } from '../events/projections/array-literal.ts';
import type { Projection } from '../events/projections/projection.ts';
import type { Database } from '../events/tables.ts';
import { type JobEventType, jobEventTypes } from '../schemas/job-events.schema.ts';
import { defaultJobTenant } from './job.evolve.ts';
import { isJobEventType, jobStreamPrefix } from './job-stream.ts';
import type { JobsTableRow, JsonRow } from './jobs.table.ts';

/** One row of the jobs read model, as JSON (timestamps as ISO strings) so it round-trips unchanged. */
export type JobRow = JsonRow<JobsTableRow>;

// Every column but the id, with its SQL type: rows are written column-wise, one typed array each,
// which the server parses about three times faster than the same rows as JSON objects.
const jobColumnTypes = {
  tenant: 'text',
  status: 'text',
  image: 'text',
  attempt: 'integer',
  submitted_by: 'text',
  submitted_at: 'timestamptz',
  started_at: 'timestamptz',
  finished_at: 'timestamptz',
  exit_code: 'integer',
  failure_reason: 'text',
  failure_message: 'text',
  worker_id: 'text',
  duration_ms: 'double precision',
  priority: 'integer',
  due_at: 'timestamptz',
  expires_at: 'timestamptz',
  cancelled_by: 'text',
  labels: 'jsonb',
  command: 'text',
  version: 'bigint',
  last_position: 'bigint',
} as const satisfies Record<Exclude<keyof JobRow, 'id'>, string>;
const jobColumns = Object.keys(jobColumnTypes) as readonly (keyof typeof jobColumnTypes)[];

// Storage is a trust boundary, but a full zod parse per event would dominate replay time; the
// projection reads a handful of fields and checks each one it uses.
type Fields = Readonly<Record<string, unknown>>;
const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const int = (value: unknown): number | null => (typeof value === 'number' ? value : null);

/**
 * Folds one job event into the job's row (undefined: no row yet). Pure; mirrors `evolve` in
 * job.evolve.ts, including what it ignores (an event that cannot apply to the current status).
 */
export function projectJobEvent(row: JobRow | undefined, event: RecordedEvent): JobRow | undefined {
  const data = (event.data ?? {}) as Fields;
  const at = event.recordedAt.toISOString();
  const seen = { version: event.streamVersion, last_position: event.globalPosition };
  // A job stream holds job events only (the store refuses any its read schemas do not know).
  if (!isJobEventType(event.type)) throw new Error(`event ${event.eventId} has unknown type ${event.type}`);
  const type: JobEventType = event.type;
  switch (type) {
    case 'JobSubmitted': {
      if (row) return { ...row, ...seen };
      const spec = (data.spec ?? {}) as Fields;
      return {
        id: event.streamId.slice(jobStreamPrefix.length),
        // As evolve does: a job submitted without a tenant belongs to the default one.
        tenant: text(event.metadata.tenant) ?? defaultJobTenant,
        status: 'queued',
        image: text(spec.image) ?? '',
        attempt: 1,
        submitted_by: text(event.metadata.actor),
        submitted_at: at,
        started_at: null,
        finished_at: null,
        exit_code: null,
        failure_reason: null,
        failure_message: null,
        worker_id: null,
        duration_ms: null,
        priority: int(spec.priority),
        due_at: isoText(data.runAt),
        expires_at: isoText(data.expiresAt),
        cancelled_by: null,
        labels: labelsOf(spec.labels),
        command: Array.isArray(spec.command)
          ? spec.command.filter((word) => typeof word === 'string').join(' ')
          : '',
        ...seen,
      };
    }
    case 'JobStarted':
      if (!row) return row;
      return {
        ...row,
        ...withoutOutcome,
        status: 'running',
        attempt: int(data.attempt) ?? row.attempt,
        worker_id: text(data.workerId),
        started_at: at,
        due_at: null,
        expires_at: null,
        ...seen,
      };
    case 'JobSucceeded':
      if (row?.status !== 'running') return row && { ...row, ...seen };
      return { ...row, status: 'succeeded', ...outcome(data, at), ...seen };
    case 'JobFailed':
      if (!row) return row;
      return {
        // started_at and worker_id stay: which attempt failed, where, is what an operator asks next.
        ...row,
        status: 'failed',
        ...outcome(data, at),
        failure_reason: text(data.reason),
        failure_message: text(data.message),
        ...seen,
      };
    case 'JobRetryScheduled':
      if (!row) return row;
      // The failure that led here stays on the row until the next attempt starts.
      return {
        ...row,
        status: 'queued',
        attempt: int(data.attempt) ?? row.attempt + 1,
        due_at: isoText(data.dueAt),
        expires_at: isoText(data.expiresAt),
        ...seen,
      };
    case 'JobAttemptAbandoned':
      if (row?.status !== 'running' || int(data.attempt) !== row.attempt) return row && { ...row, ...seen };
      return {
        ...row,
        status: 'failed',
        failure_reason: 'abandoned',
        failure_message: `worker ${text(data.workerId)} ${text(data.reason)}`,
        finished_at: at,
        ...seen,
      };
    case 'JobCancelled':
      if (!row) return row;
      return {
        ...row,
        status: 'cancelled',
        cancelled_by: text(event.metadata.actor),
        finished_at: at,
        due_at: null,
        expires_at: null,
        ...seen,
      };
    case 'JobExpired':
      if (!row) return row;
      return { ...row, status: 'expired', finished_at: at, due_at: null, expires_at: null, ...seen };
    case 'JobOutput':
    case 'ArtifactStored':
    case 'ArtifactRefused':
    case 'WebhookDelivered':
    case 'WebhookFailed':
      // Not read by the runner (see foldedEventTypes); the row keeps no output, files or deliveries.
      return row && { ...row, ...seen };
    default: {
      const unhandled: never = type;
      throw new Error(`the jobs projection does not fold ${unhandled}`);
    }
  }
}

/** A spec's labels as stored: string values only ({} when absent). */
function labelsOf(value: unknown): Readonly<Record<string, string>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  return Object.fromEntries(
    Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
  );
}

/** A row's cell as an array literal element: the labels map as JSON text, read back by `::jsonb[]`. */
const cell = (value: JobRow[keyof JobRow]) =>
  typeof value === 'object' && value !== null ? JSON.stringify(value) : value;

/** An ISO timestamp carried in event data (dueAt, expiresAt), as stored. */
const isoText = (value: unknown): string | null => (typeof value === 'string' ? value : null);

const withoutOutcome = {
  finished_at: null,
  exit_code: null,
  failure_reason: null,
  failure_message: null,
  duration_ms: null,
};

const outcome = (data: Fields, at: string) => ({
  exit_code: int(data.exitCode),
  duration_ms: int(data.durationMs),
  finished_at: at,
});

/** Folds a batch in memory, then writes each touched job once: two statements per batch. */
async function applyJobEvents(
  db: Kysely<Database>,
  table: string,
  events: readonly RecordedEvent[],
): Promise<void> {
  const rows = new Map<string, JobRow | undefined>();
  // Rows this batch does not create must be read first; a batch that submits a job already has it.
  const seen = new Set<string>();
  const missing = new Set<string>();
  for (const event of events) {
    const id = event.streamId.slice(jobStreamPrefix.length);
    if (!seen.has(id) && event.type !== 'JobSubmitted') missing.add(id);
    seen.add(id);
  }
  if (missing.size > 0) {
    const { rows: existing } = await sql<{ row: JobRow }>`
      select to_jsonb(t) as row from ${sql.table(table)} t where t.id = any(${[...missing]}::uuid[])
    `.execute(db);
    for (const { row } of existing) rows.set(row.id, row);
  }
  for (const event of events) {
    const id = event.streamId.slice(jobStreamPrefix.length);
    rows.set(id, projectJobEvent(rows.get(id), event));
  }
  const changed = [...rows.values()].filter((row) => row !== undefined);
  if (changed.length === 0) return;
  const updates = sql.join(jobColumns.map((column) => sql`${sql.ref(column)} = excluded.${sql.ref(column)}`));
  const arrays = jobColumns.map(
    (column) =>
      sql`${arrayLiteral(changed.map((row) => cell(row[column])))}::${sql.raw(jobColumnTypes[column])}[]`,
  );
  await sql`
    insert into ${sql.table(table)} (id, ${sql.join(jobColumns.map((column) => sql.ref(column)))})
    select * from unnest(${arrayLiteral(changed.map((row) => row.id))}::uuid[], ${sql.join(arrays)})
    on conflict (id) do update set ${updates}
  `.execute(db);
}

/**
 * Which job events change a job's row; the runner reads only these. Every job event type is named,
 * so a new one fails the type check here until someone decides whether the read model folds it.
 */
const foldedEventTypes = {
  JobSubmitted: true,
  JobStarted: true,
  JobSucceeded: true,
  JobFailed: true,
  JobRetryScheduled: true,
  JobAttemptAbandoned: true,
  JobCancelled: true,
  JobExpired: true,
  // Output is the bulk of the log and files live in the job view; reading them would only cost.
  JobOutput: false,
  ArtifactStored: false,
  ArtifactRefused: false,
  // Deliveries change nothing about the job; its row stays as the job's own events left it.
  WebhookDelivered: false,
  WebhookFailed: false,
} as const satisfies Record<JobEventType, boolean>;

/** The jobs read model: one row per job, folded from the job streams. */
export const jobsProjection: Projection = {
  name: 'jobs',
  checkpointId: 'projection:jobs',
  table: 'jobs',
  types: jobEventTypes.filter((type) => foldedEventTypes[type]),
  streamPrefix: jobStreamPrefix,
  // A result's output can be megabytes; the read model keeps none of it.
  omitDataKeys: ['stdout', 'stderr'],
  apply: applyJobEvents,
};
