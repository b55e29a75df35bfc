import { type Kysely, sql } from 'kysely';
import type { RecordedEvent } from './event-store.ts';
import type { Database } from './tables.ts';

/** An event a reader could not read, and why. */
export interface UnreadableEvent {
  readonly globalPosition: number;
  readonly streamId: string;
  readonly eventId: string;
  readonly type: string;
  readonly error: unknown;
}

/** The slice of a logger this needs (pino's fits). */
export interface AlertLogger {
  error(fields: Record<string, unknown>, message: string): void;
}

export interface UnreadableEventLogOptions {
  readonly db: Kysely<Database>;
  /** Gets one error line per event, the first time any reader reports it. */
  readonly logger?: AlertLogger;
  /** Told of each first report (a metric). */
  readonly onReported?: (reader: string, event: UnreadableEvent) => void;
}

export interface UnreadableEventLog {
  /**
   * Records events `reader` stepped over (in `db` when given: the caller's transaction, so the record
   * commits with the checkpoint that passes them); returns those recorded for the first time.
   */
  record(
    reader: string,
    events: readonly UnreadableEvent[],
    db?: Kysely<Database>,
  ): Promise<UnreadableEvent[]>;
  /** Logs and counts what `record` returned, once it committed. */
  announce(reader: string, events: readonly UnreadableEvent[]): void;
  /** Both, outside any transaction. */
  report(reader: string, events: readonly UnreadableEvent[]): Promise<void>;
}

/** What an unreadable event looks like to the log, from the event and the error its reader met. */
export const unreadableEvent = (event: RecordedEvent, error: unknown): UnreadableEvent => ({
  globalPosition: event.globalPosition,
  streamId: event.streamId,
  eventId: event.eventId,
  type: event.type,
  error,
});

const describe = (error: unknown): string => {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.slice(0, 2000);
};

/**
 * A failure caused by an event's content rather than by the infrastructure: a Postgres data exception
 * (class 22: a date out of range, a bad time zone offset), a schema refusal, or a JS error computing
 * with the value. Only these make an event unreadable; a lost connection is retried, never skipped.
 */
export function isDataError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, name } = error as { code?: unknown; name?: unknown };
  if (typeof code === 'string' && /^22[0-9A-Z]{3}$/.test(code)) return true;
  return (
    name === 'ZodError' ||
    name === 'RangeError' ||
    name === 'TypeError' ||
    name === 'UnreadableEventError' ||
    name === 'JobHistoryUnreadableError'
  );
}

/** Where readers report events they step over: a table an operator can query, a log line, a metric. */
export function createUnreadableEventLog(options: UnreadableEventLogOptions): UnreadableEventLog {
  const record: UnreadableEventLog['record'] = async (reader, events, db = options.db) => {
    if (events.length === 0) return [];
    const { rows } = await sql<{ global_position: string | number }>`
      insert into unreadable_events (reader, global_position, stream_id, event_id, event_type, error)
      select ${reader}::text, * from unnest(
        ${events.map((event) => event.globalPosition)}::bigint[], ${events.map((event) => event.streamId)}::text[],
        ${events.map((event) => event.eventId)}::uuid[], ${events.map((event) => event.type)}::text[],
        ${events.map((event) => describe(event.error))}::text[])
      on conflict (reader, global_position) do nothing
      returning global_position
    `.execute(db);
    const inserted = new Set(rows.map((row) => Number(row.global_position)));
    return events.filter((event) => inserted.has(event.globalPosition));
  };
  const announce: UnreadableEventLog['announce'] = (reader, events) => {
    for (const event of events) {
      options.logger?.error(
        {
          alert: 'event-unreadable',
          reader,
          streamId: event.streamId,
          globalPosition: event.globalPosition,
          eventId: event.eventId,
          eventType: event.type,
          error: describe(event.error),
        },
        `${reader} stepped over unreadable event ${event.type} at position ${event.globalPosition} of stream ` +
          `${event.streamId}: the other streams go on; that stream's state is missing the event. Repair it ` +
          `(see unreadable_events) and replay the read models`,
      );
      options.onReported?.(reader, event);
    }
  };
  return {
    record,
    announce,
    async report(reader, events) {
      announce(reader, await record(reader, events));
    },
  };
}
