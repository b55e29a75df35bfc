/** The stream was not at the version the writer decided on: someone else wrote first. */
export class ConcurrencyError extends Error {
  readonly code = 'concurrency-conflict';
  readonly streamId: string;
  readonly expectedVersion: number | null;
  readonly actualVersion: number;
  constructor(streamId: string, expectedVersion: number | null, actualVersion: number) {
    super(`stream ${streamId} is at version ${actualVersion}, expected ${expectedVersion}`);
    this.name = 'ConcurrencyError';
    this.streamId = streamId;
    this.expectedVersion = expectedVersion;
    this.actualVersion = actualVersion;
  }
}

/** An append retried with some, but not all, of its event ids already stored. */
export class PartialDuplicateError extends Error {
  readonly code = 'partial-duplicate-append';
  constructor(streamId: string) {
    super(`some events of this append to ${streamId} were already stored`);
    this.name = 'PartialDuplicateError';
  }
}

/** The parts of a Postgres error (or of a refusal `append_events_batch` returned) that say why. */
export interface AppendFailure {
  readonly code?: string | null;
  readonly detail?: string | null;
  readonly constraint?: string | null;
}

/**
 * The store's error for an append `append_events` refused (see migration 0030 for the SQLSTATEs);
 * undefined for any other failure, which callers pass on as it is.
 */
export function appendRefusal(
  streamId: string,
  expectedVersion: number | null,
  failure: AppendFailure,
): ConcurrencyError | PartialDuplicateError | undefined {
  if (failure.code === 'OM001') {
    return new ConcurrencyError(streamId, expectedVersion, Number(failure.detail ?? 0));
  }
  // 23505 on the event id: an id stored earlier met a matching version.
  if (
    failure.code === 'OM002' ||
    (failure.code === '23505' && failure.constraint === 'events_event_id_key')
  ) {
    return new PartialDuplicateError(streamId);
  }
  return undefined;
}

/**
 * An event the store refused to append because its readers could not read it back: its data fails
 * the read schema of its type and version (after the JSON round trip storage makes), or holds text
 * Postgres cannot store (NUL, a lone surrogate). Nothing of the append was written.
 */
export class UnreadableEventError extends Error {
  readonly code = 'event-unreadable';
  readonly streamId: string;
  readonly eventType: string;
  /** Where in the event the trouble is (`/data/runAt`), when one place is to blame. */
  readonly pointer?: string;
  readonly reason: string;
  constructor(streamId: string, eventType: string, reason: string, pointer?: string) {
    super(
      `event ${eventType} for ${streamId} would be unreadable: ${pointer ? `${pointer}: ` : ''}${reason}`,
    );
    this.name = 'UnreadableEventError';
    this.streamId = streamId;
    this.eventType = eventType;
    this.reason = reason;
    if (pointer !== undefined) this.pointer = pointer;
  }
}
