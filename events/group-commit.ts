import { type Kysely, type Selectable, sql } from 'kysely';
import { createCoalescer, type Waiting } from './coalescer.ts';
import { appendRefusal } from './event-store-errors.ts';
import type { Database, EventsTable } from './tables.ts';

/** One event as `append_events` takes it. */
export interface AppendPayloadEvent {
  readonly event_id: string;
  readonly type: string;
  readonly schema_version: number;
  readonly data: unknown;
  readonly metadata: unknown;
}

export interface AppendRequest {
  readonly streamId: string;
  readonly expectedVersion: number | null;
  readonly events: readonly AppendPayloadEvent[];
  /**
   * Also give back the stream's events up to `expectedVersion` (a number), read by the statement
   * that appends: for a writer that needs the history only once its append is known to hold.
   */
  readonly readHistory?: boolean;
}

/** A stored event as the appending statement gives it back (see AppendRequest.readHistory). */
export type HistoryRow = Omit<Selectable<EventsTable>, 'recorded_at' | 'hash'> & {
  readonly recorded_ms: number;
};

/** Where an append's last event landed. */
export interface Appended {
  readonly globalPosition: number;
  readonly streamVersion: number;
  /** With `readHistory`: the stream's events before this append, in order. */
  readonly history?: readonly HistoryRow[];
}

export interface GroupCommitOptions {
  /** At most this many appends share a transaction (each is a subtransaction; see migration 0050). */
  readonly maxGroupSize?: number;
  /** At most this many groups are in flight at once; appends arriving meanwhile form the next group. */
  readonly maxInFlight?: number;
  /** Told the size of every group sent (1: a lone append), for metrics. */
  readonly onGroup?: (size: number) => void;
}

/**
 * One group in flight per store: measured on the pipeline bench (2 cores, 32 worker slots), one in
 * flight made bigger groups and cost 1.11-1.19 ms of CPU per job against 1.23-1.32 with two and 1.75
 * with eight, for 5-10% more jobs/s; a lone append still goes at once.
 */
const defaultGroupCommit = { maxGroupSize: 48, maxInFlight: 1 } as const;

type WaitingAppend = Waiting<AppendRequest, Appended>;

interface BatchRow {
  readonly item: number;
  readonly global_position: number | null;
  readonly stream_version: number | null;
  readonly error_code: string | null;
  readonly error_detail: string | null;
  readonly error_constraint: string | null;
  readonly history: readonly HistoryRow[] | null;
}

/**
 * Whether Postgres refused the group's statement itself (one append's bad value, a deadlock it broke
 * by aborting the group), so that nothing of the group was committed and each append can be tried
 * again on its own. Not when the connection failed under it (class 08) or an operator or timeout
 * stopped it (class 57): those would fail each append alike.
 */
function refusedWholeGroup(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return (
    typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith('08') && !code.startsWith('57')
  );
}

/**
 * The appends in one `append_events_batch` statement, each in a subtransaction of its own: every
 * append's result, or its own refusal (a conflict, a partial duplicate) as the typed error, in the
 * order given. Throws only when Postgres refuses the statement as a whole. Callers that may share
 * streams with concurrent statements pass the appends in stream-id order (see below).
 */
export async function appendEach(
  db: Kysely<Database>,
  requests: readonly AppendRequest[],
): Promise<readonly (Appended | Error)[]> {
  const appends = requests.map((request) => ({
    stream_id: request.streamId,
    expected_version: request.expectedVersion,
    events: request.events,
  }));
  // The histories asked for are read by the same statement, once its appends are in: one round
  // trip where a read and an append took two. The outer query's snapshot predates the function's
  // inserts and `upto` bounds it anyway, so a history never holds the events just appended.
  const wanted = requests.flatMap((request, index) =>
    request.readHistory && request.expectedVersion !== null
      ? [{ item: index + 1, streamId: request.streamId, upto: request.expectedVersion }]
      : [],
  );
  const history =
    wanted.length === 0
      ? sql`null::jsonb`
      : sql`case when b.global_position is null or w.item is null then null else (
          select coalesce(jsonb_agg(jsonb_build_object(
            'global_position', e.global_position, 'transaction_id', e.transaction_id::text,
            'stream_id', e.stream_id, 'stream_version', e.stream_version, 'event_id', e.event_id,
            'type', e.type, 'schema_version', e.schema_version, 'data', e.data, 'metadata', e.metadata,
            'recorded_ms', (extract(epoch from e.recorded_at) * 1000)::float8
          ) order by e.stream_version), '[]'::jsonb)
          from events e where e.stream_id = w.stream_id and e.stream_version <= w.upto
        ) end`;
  const join =
    wanted.length === 0
      ? sql``
      : sql`left join unnest(
          ${wanted.map((entry) => entry.item)}::int[],
          ${wanted.map((entry) => entry.streamId)}::text[],
          ${wanted.map((entry) => entry.upto)}::int[]
        ) as w(item, stream_id, upto) on w.item = b.item`;
  const { rows } = await sql<BatchRow>`
    select b.item, b.global_position, b.stream_version, b.error_code, b.error_detail, b.error_constraint,
           ${history} as history
    from append_events_batch(${JSON.stringify(appends)}::jsonb) b
    ${join}
  `.execute(db);
  // Every append gets an answer, even should the function ever return fewer rows than it was given.
  const results: (Appended | Error)[] = requests.map(
    () => new Error('append_events_batch gave no result for this append'),
  );
  for (const row of rows) {
    const request = requests[row.item - 1];
    if (!request) continue;
    if (row.global_position !== null && row.stream_version !== null) {
      results[row.item - 1] = {
        globalPosition: row.global_position,
        streamVersion: row.stream_version,
        ...(row.history === null ? {} : { history: row.history }),
      };
      continue;
    }
    const failure = { code: row.error_code, detail: row.error_detail, constraint: row.error_constraint };
    results[row.item - 1] =
      appendRefusal(request.streamId, request.expectedVersion, failure) ??
      new Error(`append to ${request.streamId} was refused (${row.error_code ?? 'no SQLSTATE'})`);
  }
  return results;
}

/**
 * Group commit for appends made concurrently on one store (grouped as coalescer.ts describes): one
 * round trip, one transaction and one WAL flush for a group, where each append used to pay its own.
 * Each append keeps its own version check, hash chain and result; a refused one (a conflict, a
 * partial duplicate) fails alone. No append resolves before its group has committed.
 *
 * Within a group, appends are sent in stream-id order. Every group takes its streams' row locks in
 * that one order, so two groups sharing streams wait for each other instead of deadlocking. When
 * Postgres refuses the group's statement as a whole (a deadlock it still had to break, a value one
 * append carries that the database cannot store), the group's appends are tried again one by one,
 * so each caller gets its own answer and nobody fails for a neighbour's append.
 */
export function createGroupCommit(
  db: Kysely<Database>,
  appendOne: (request: AppendRequest) => Promise<Appended>,
  options: GroupCommitOptions = {},
): (request: AppendRequest) => Promise<Appended> {
  const maxGroupSize = options.maxGroupSize ?? defaultGroupCommit.maxGroupSize;
  const maxInFlight = options.maxInFlight ?? defaultGroupCommit.maxInFlight;
  // In order, each awaited: two appends to one stream must not overtake each other. Retrying is safe
  // even had the group committed: an append whose event ids are stored returns the stored rows.
  const settleOneByOne = async (group: readonly WaitingAppend[]) => {
    for (const waiting of group) await appendOne(waiting.request).then(waiting.resolve, waiting.reject);
  };

  const sendGroup = async (group: readonly WaitingAppend[]): Promise<void> => {
    options.onGroup?.(group.length);
    if (group.length === 1) {
      const [only] = group;
      if (only) await appendOne(only.request).then(only.resolve, only.reject);
      return;
    }
    // A stable sort: appends to the same stream keep the order they were made in.
    const ordered = [...group].sort((a, b) =>
      a.request.streamId < b.request.streamId ? -1 : a.request.streamId > b.request.streamId ? 1 : 0,
    );
    let results: readonly (Appended | Error)[];
    try {
      results = await appendEach(
        db,
        ordered.map(({ request }) => request),
      );
    } catch (error) {
      if (refusedWholeGroup(error)) await settleOneByOne(ordered);
      else for (const waiting of ordered) waiting.reject(error);
      return;
    }
    ordered.forEach((waiting, index) => {
      const result = results[index];
      if (result instanceof Error || result === undefined) waiting.reject(result);
      else waiting.resolve(result);
    });
  };

  return createCoalescer(sendGroup, { maxGroupSize, maxInFlight });
}
