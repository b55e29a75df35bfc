import { type Kysely, sql } from 'kysely';
import { createCoalescer, type Waiting } from './coalescer.ts';
import { appendRefusal } from './event-store-errors.ts';
import type { Database } from './tables.ts';

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
}

/** Where an append's last event landed. */
export interface Appended {
  readonly globalPosition: number;
  readonly streamVersion: number;
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
  const { rows } = await sql<BatchRow>`
    select item, global_position, stream_version, error_code, error_detail, error_constraint
    from append_events_batch(${JSON.stringify(appends)}::jsonb)
  `.execute(db);
  // Every append gets an answer, even should the function ever return fewer rows than it was given.
  const results: (Appended | Error)[] = requests.map(
    () => new Error('append_events_batch gave no result for this append'),
  );
  for (const row of rows) {
    const request = requests[row.item - 1];
    if (!request) continue;
    if (row.global_position !== null && row.stream_version !== null) {
      results[row.item - 1] = { globalPosition: row.global_position, streamVersion: row.stream_version };
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
