import { type AppendListener, nextAppend } from './append-listener.ts';
import type { EventStore, LogPosition, ReadAllOptions, RecordedEvent } from './event-store.ts';

export interface TailOptions {
  readonly store: EventStore;
  readonly appendListener?: AppendListener;
  readonly signal: AbortSignal;
  /** Longest wait between reads when no notification arrives. */
  readonly maxWaitMs?: number;
}

/**
 * The global log from `after` on, history then live, in commit-safe order: one cursor serves both,
 * so there is no seam where an event could be missed or repeated.
 */
export async function* tailLog(
  options: TailOptions & { readonly after: LogPosition; readonly filter?: Omit<ReadAllOptions, 'limit'> },
): AsyncGenerator<RecordedEvent> {
  let cursor = options.after;
  while (!options.signal.aborted) {
    const events = await options.store.readAll(cursor, { ...options.filter, limit: 500 });
    for (const event of events) yield event;
    const last = events.at(-1);
    if (last) {
      cursor = { transactionId: last.transactionId, globalPosition: last.globalPosition };
      continue;
    }
    // A filtered read returns nothing for unmatched events: the cursor cannot move past them, which
    // only costs re-reading them; correctness does not depend on it.
    await nextAppend(options.appendListener, {
      maxWaitMs: options.maxWaitMs ?? 1000,
      signal: options.signal,
    });
  }
}

/** One stream from `afterVersion` on, history then live, until `isDone` says the stream has ended. */
export async function* tailStream(
  options: TailOptions & {
    readonly streamId: string;
    readonly afterVersion: number;
    readonly isDone?: (event: RecordedEvent) => boolean;
  },
): AsyncGenerator<RecordedEvent> {
  let version = options.afterVersion;
  while (!options.signal.aborted) {
    const events = (await options.store.readStream(options.streamId)).filter(
      (event) => event.streamVersion > version,
    );
    for (const event of events) {
      version = event.streamVersion;
      yield event;
    }
    // Checked once per batch, after the consumer has seen all of it: an ending event may come
    // together with one that reopens the stream (a failure and its retry are appended together).
    const last = events.at(-1);
    if (last && options.isDone?.(last)) return;
    if (events.length === 0) {
      await nextAppend(options.appendListener, {
        maxWaitMs: options.maxWaitMs ?? 1000,
        signal: options.signal,
        accept: (streamId) => streamId === options.streamId,
      });
    }
  }
}
