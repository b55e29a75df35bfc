import type { UnreadableEvent } from '../events/unreadable-events.ts';

/**
 * A job's stream holds an event its read schema refuses (written by hand, or before the store
 * checked appends), so its state cannot be folded. Names the event, for the operator who repairs it.
 */
export class JobHistoryUnreadableError extends Error {
  readonly code = 'job-history-unreadable';
  readonly streamId: string;
  readonly globalPosition: number;
  readonly streamVersion: number;
  readonly eventId: string;
  readonly eventType: string;
  constructor(
    event: {
      readonly streamId: string;
      readonly globalPosition: number;
      readonly streamVersion: number;
      readonly eventId: string;
      readonly type: string;
    },
    cause: unknown,
  ) {
    super(
      `event ${event.type} at position ${event.globalPosition} (version ${event.streamVersion}) of ${event.streamId} is unreadable`,
      { cause },
    );
    this.name = 'JobHistoryUnreadableError';
    this.streamId = event.streamId;
    this.globalPosition = event.globalPosition;
    this.streamVersion = event.streamVersion;
    this.eventId = event.eventId;
    this.eventType = event.type;
  }
}

/** The event to record as unreadable: the one of the stream that failed to parse, and why. */
export const unreadableEventOf = (error: JobHistoryUnreadableError): UnreadableEvent => ({
  globalPosition: error.globalPosition,
  streamId: error.streamId,
  eventId: error.eventId,
  type: error.eventType,
  error: error.cause,
});
