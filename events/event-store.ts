import { type Kysely, type Selectable, sql } from 'kysely';
import { type CoalescerOptions, createCoalescer, type Waiting } from './coalescer.ts';
import { assertReadable, type EventReadSchemas } from './event-readability.ts';
import { appendRefusal } from './event-store-errors.ts';
import {
  type Appended,
  type AppendRequest,
  appendEach,
  createGroupCommit,
  type GroupCommitOptions,
} from './group-commit.ts';
import { createNotifyAfterCommit } from './notify-after-commit.ts';
import type { Database, EventsTable } from './tables.ts';
import { noUpcasters, type Upcasters } from './upcasters.ts';
import { uuidV7 } from './uuid-v7.ts';

/** Who caused an event and in which request: the audit trail's columns. */
export interface EventMetadata {
  readonly actor?: string;
  readonly tenant?: string;
  readonly requestId?: string;
  readonly correlationId?: string;
  readonly causationId?: string;
  readonly traceparent?: string;
  readonly [key: string]: unknown;
}

export interface NewEvent {
  /** Supply it to make a retried append idempotent; generated (time-ordered, version 7) otherwise. */
  readonly eventId?: string;
  readonly type: string;
  readonly schemaVersion: number;
  readonly data: unknown;
  readonly metadata?: EventMetadata;
}

export interface RecordedEvent {
  readonly globalPosition: number;
  readonly transactionId: string;
  readonly streamId: string;
  readonly streamVersion: number;
  readonly eventId: string;
  readonly type: string;
  readonly schemaVersion: number;
  readonly data: unknown;
  readonly metadata: EventMetadata;
  readonly recordedAt: Date;
}

export interface AppendResult {
  /** The stream's version after the append: the expected version for the next one. */
  readonly nextExpectedVersion: number;
  readonly lastGlobalPosition: number;
}

/** A point in the log's commit-safe order; readers resume strictly after it. */
export interface LogPosition {
  readonly transactionId: string;
  readonly globalPosition: number;
}

export const logStart: LogPosition = { transactionId: '0', globalPosition: 0 };

/** Narrows a global read; filtered reads still return events in commit-safe order. */
export interface ReadAllOptions {
  readonly limit: number;
  /** Only events of these types. */
  readonly types?: readonly string[];
  /** Only events of streams whose id starts with this (e.g. `job-`). */
  readonly streamPrefix?: string;
  /**
   * Top-level keys left out of every event's data, in the database: a reader that never looks at a
   * job's stdout need not have megabytes of it rendered, sent and parsed. Upcasters see the data
   * without them too.
   */
  readonly omitDataKeys?: readonly string[];
}

export interface EventStoreOptions {
  /** Brings events stored at an older schema version up to the current one on read. */
  readonly upcasters?: Upcasters;
  /**
   * Concurrent appends share a transaction (see group-commit.ts); `false`: one transaction each.
   * A store over a transaction never groups: its appends commit with the caller's transaction.
   */
  readonly groupCommit?: GroupCommitOptions | false;
  /**
   * Concurrent `readStream` calls share one query (`stream_id = any(...)`); `false`: one query each.
   * A store over a transaction never groups reads: they must see its own uncommitted appends.
   */
  readonly groupReads?: Partial<CoalescerOptions> | false;
  /**
   * The read schema of each event type (and version) its readers parse: an append whose event would
   * fail it, read back, is refused with UnreadableEventError and nothing is written. One such event
   * in the log would stop every reader that meets it. Text Postgres cannot store (NUL, a lone
   * surrogate) is refused the same way with or without schemas.
   */
  readonly schemas?: EventReadSchemas;
}

const defaultGroupReads: CoalescerOptions = { maxGroupSize: 64, maxInFlight: 2 };

/** One stream's part of `appendEach`. */
export interface StreamAppend {
  readonly streamId: string;
  readonly expectedVersion: number | null;
  readonly events: readonly NewEvent[];
}

export interface EventStore {
  /** Appends atomically if the stream is at `expectedVersion` (0: new stream; null: any). */
  append(
    streamId: string,
    expectedVersion: number | null,
    events: readonly NewEvent[],
  ): Promise<AppendResult>;
  /**
   * Appends to several streams in one statement (one commit, unless the store is over a
   * transaction): each append checked and refused on its own, its result or its typed error given
   * back in the order asked. For writes that belong together, such as a batch of submitted jobs.
   */
  appendEach(requests: readonly StreamAppend[]): Promise<readonly (AppendResult | Error)[]>;
  /**
   * Appends as `append` does at `expectedVersion`, and gives back the stream's events before it,
   * read by the same statement. For a writer whose decision needs only the version (a worker
   * starting the attempt its message was queued at) and the history once the append holds.
   */
  appendReadingHistory(
    streamId: string,
    expectedVersion: number,
    events: readonly NewEvent[],
  ): Promise<{ readonly appended: AppendResult; readonly history: readonly RecordedEvent[] }>;
  readStream(streamId: string): Promise<readonly RecordedEvent[]>;
  /**
   * The stream's events after stream version `afterVersion`, brought up to date like every read:
   * for a reader that holds a snapshot at that version (a read model row) and folds the rest.
   */
  readStreamAfter(streamId: string, afterVersion: number): Promise<readonly RecordedEvent[]>;
  /**
   * Events committed after `after`, in commit-safe order; never returns one that could still be
   * preceded.
   */
  readAll(after: LogPosition, options: ReadAllOptions): Promise<readonly RecordedEvent[]>;
}

const columns = [
  'global_position',
  'transaction_id',
  'stream_id',
  'stream_version',
  'event_id',
  'type',
  'schema_version',
  'data',
  'metadata',
  'recorded_at',
] as const;

/** The columns an event is read with: every one but the hash, which a read event does not carry. */
type EventRow = Pick<Selectable<EventsTable>, (typeof columns)[number]>;

/** A row as an event; the time comes separately, as global reads fetch it as epoch milliseconds. */
function toRecordedEvent(row: Omit<EventRow, 'recorded_at'>, recordedAt: Date): RecordedEvent {
  return {
    globalPosition: row.global_position,
    transactionId: row.transaction_id,
    streamId: row.stream_id,
    streamVersion: row.stream_version,
    eventId: row.event_id,
    type: row.type,
    schemaVersion: row.schema_version,
    data: row.data,
    metadata: (row.metadata ?? {}) as EventMetadata,
    recordedAt,
  };
}

/** The event store over one Kysely handle; a plain set of functions around `append_events`. */
export function createEventStore(db: Kysely<Database>, options: EventStoreOptions = {}): EventStore {
  const upcasters = options.upcasters ?? noUpcasters;
  const toCurrent = (row: Omit<EventRow, 'recorded_at'>, recordedAt: Date) =>
    upcasters.upcast(toRecordedEvent(row, recordedAt));
  const notify = createNotifyAfterCommit(db);
  const appendOne = async (request: AppendRequest): Promise<Appended> => {
    const { streamId, expectedVersion, events } = request;
    if (request.readHistory) {
      // Only the batch statement reads a history back; a group of one is still one round trip.
      const [outcome] = await appendEach(db, [request]).catch((error: { code?: string }) => {
        throw appendRefusal(streamId, expectedVersion, error) ?? error;
      });
      if (outcome === undefined || outcome instanceof Error)
        throw outcome ?? new Error(`append to ${streamId} gave no result`);
      return outcome;
    }
    try {
      const { rows } = await sql<{ global_position: number; stream_version: number }>`
        select global_position, stream_version
        from append_events(${streamId}, ${expectedVersion}, ${JSON.stringify(events)}::jsonb)
      `.execute(db);
      const last = rows.at(-1);
      if (!last) throw new Error(`append to ${streamId} returned no rows`);
      return { globalPosition: last.global_position, streamVersion: last.stream_version };
    } catch (error) {
      throw appendRefusal(streamId, expectedVersion, error as { code?: string }) ?? error;
    }
  };
  const append =
    db.isTransaction || options.groupCommit === false
      ? appendOne
      : createGroupCommit(db, appendOne, options.groupCommit);

  /** The stream's events after `afterVersion`, brought up to date; versions start at 1, so 0 is all. */
  const readAfter = async (streamId: string, afterVersion: number): Promise<readonly RecordedEvent[]> => {
    const rows = await db
      .selectFrom('events')
      .select(columns)
      .where('stream_id', '=', streamId)
      .where('stream_version', '>', afterVersion)
      .orderBy('stream_version')
      .execute();
    return (rows as EventRow[]).map((row) => toCurrent(row, row.recorded_at));
  };
  const readOne = (streamId: string) => readAfter(streamId, 0);
  const readGroup = async (group: readonly Waiting<string, readonly RecordedEvent[]>[]) => {
    if (group.length === 1) {
      const [only] = group;
      if (only) await readOne(only.request).then(only.resolve, only.reject);
      return;
    }
    const streamIds = [...new Set(group.map((waiting) => waiting.request))];
    let rows: EventRow[];
    try {
      rows = (await db
        .selectFrom('events')
        .select(columns)
        .where(sql<boolean>`stream_id = any(${streamIds}::text[])`)
        .orderBy('stream_id')
        .orderBy('stream_version')
        .execute()) as EventRow[];
    } catch (error) {
      for (const waiting of group) waiting.reject(error);
      return;
    }
    const rowsByStream = new Map<string, EventRow[]>(streamIds.map((id) => [id, []]));
    for (const row of rows) rowsByStream.get(row.stream_id)?.push(row);
    // Each stream is brought up to date on its own: an event no upcaster can read fails its reader only.
    const results = new Map<string, readonly RecordedEvent[] | { readonly error: unknown }>();
    for (const [streamId, streamRows] of rowsByStream) {
      try {
        results.set(
          streamId,
          streamRows.map((row) => toCurrent(row, row.recorded_at)),
        );
      } catch (error) {
        results.set(streamId, { error });
      }
    }
    for (const waiting of group) {
      const result = results.get(waiting.request) ?? [];
      if ('error' in result) waiting.reject(result.error);
      else waiting.resolve(result);
    }
  };
  const readStream =
    db.isTransaction || options.groupReads === false
      ? readOne
      : createCoalescer(readGroup, { ...defaultGroupReads, ...options.groupReads });
  const payloadOf = (streamId: string, events: readonly NewEvent[]) => {
    if (events.length === 0) throw new Error('append needs at least one event');
    const payload = events.map((event) => ({
      event_id: event.eventId ?? uuidV7(),
      type: event.type,
      schema_version: event.schemaVersion,
      data: event.data,
      metadata: event.metadata ?? {},
    }));
    assertReadable(streamId, payload, options.schemas, upcasters);
    return payload;
  };
  return {
    async append(streamId, expectedVersion, events) {
      const payload = payloadOf(streamId, events);
      const appended = await append({ streamId, expectedVersion, events: payload });
      // After the commit, off this round trip: NOTIFY inside the append would serialise commits.
      notify(streamId);
      return { nextExpectedVersion: appended.streamVersion, lastGlobalPosition: appended.globalPosition };
    },

    async appendReadingHistory(streamId, expectedVersion, events) {
      const payload = payloadOf(streamId, events);
      const appended = await append({ streamId, expectedVersion, events: payload, readHistory: true });
      notify(streamId);
      let history = (appended.history ?? []).map((row) => toCurrent(row, new Date(row.recorded_ms)));
      // The append held, so versions 1..expectedVersion are committed; a history short of them
      // (an event committed after the statement's snapshot was taken) is read again, committed.
      const whole = (events: readonly RecordedEvent[]) =>
        events.length === expectedVersion &&
        events.every((event, index) => event.streamVersion === index + 1);
      if (!whole(history))
        history = (await readOne(streamId)).filter((event) => event.streamVersion <= expectedVersion);
      return {
        appended: {
          nextExpectedVersion: appended.streamVersion,
          lastGlobalPosition: appended.globalPosition,
        },
        history,
      };
    },

    async appendEach(requests) {
      // Refused before the statement (an event its readers could not read) fails that append alone.
      const results: (AppendResult | Error)[] = [];
      const sendable: { readonly index: number; readonly request: AppendRequest }[] = [];
      requests.forEach((request, index) => {
        try {
          sendable.push({
            index,
            request: { ...request, events: payloadOf(request.streamId, request.events) },
          });
          results.push(new Error('not appended'));
        } catch (error) {
          results.push(error instanceof Error ? error : new Error(String(error)));
        }
      });
      // In stream-id order (stable), as group commit sends them: concurrent statements sharing
      // streams take their row locks in one order and cannot deadlock each other.
      sendable.sort((a, b) =>
        a.request.streamId < b.request.streamId ? -1 : a.request.streamId > b.request.streamId ? 1 : 0,
      );
      if (sendable.length === 0) return results;
      const appended = await appendEach(
        db,
        sendable.map((entry) => entry.request),
      );
      sendable.forEach((entry, position) => {
        const outcome = appended[position];
        results[entry.index] =
          outcome === undefined || outcome instanceof Error
            ? (outcome ?? new Error('not appended'))
            : { nextExpectedVersion: outcome.streamVersion, lastGlobalPosition: outcome.globalPosition };
        if (!(outcome instanceof Error) && outcome !== undefined) notify(entry.request.streamId);
      });
      return results;
    },

    readStream,

    readStreamAfter: readAfter,

    async readAll(after, { limit, types, streamPrefix, omitDataKeys }) {
      const data =
        omitDataKeys === undefined || omitDataKeys.length === 0
          ? sql`data`
          : sql`data - ${omitDataKeys}::text[] as data`;
      const typeFilter = types === undefined ? sql`` : sql`and type = any(${types}::text[])`;
      const prefixFilter =
        streamPrefix === undefined ? sql`` : sql`and starts_with(stream_id, ${streamPrefix})`;
      // The snapshot's xmin is the oldest transaction still running: everything below it has either
      // committed or aborted, so nothing can appear behind what we return. Computed in the same
      // statement so the bound and the rows come from one snapshot.
      // recorded_at as epoch milliseconds: a Date from a number costs a fraction of parsing the
      // timestamp's text (a tenth of a replay's client time), and keeps the same millisecond.
      const { rows } = await sql<Omit<EventRow, 'recorded_at'> & { recorded_ms: number }>`
        select global_position, transaction_id::text as transaction_id, stream_id, stream_version, event_id,
               type, schema_version, ${data}, metadata, (extract(epoch from recorded_at) * 1000)::float8 as recorded_ms
        from events
        where (transaction_id, global_position) > (${after.transactionId}::xid8, ${after.globalPosition}::bigint)
          and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
          ${typeFilter} ${prefixFilter}
        -- Qualified: a bare name would sort by the text alias above ('10' < '9'), which both
        -- misorders the log once xids gain a digit and keeps the index from serving the order.
        order by events.transaction_id, events.global_position
        limit ${limit}
      `.execute(db);
      return rows.map((row) => toCurrent(row, new Date(row.recorded_ms)));
    },
  };
}
