import pg from 'pg';

/** Wakes in-process readers when any process appends; one LISTEN connection serves them all. */
export interface AppendNotifier {
  /** Calls `listener` with the stream id of every append, until the returned function is called. */
  subscribe(listener: (streamId: string) => void): () => void;
  close(): Promise<void>;
}

/**
 * LISTENs on `omni_events` (notified by `append_events` with the stream id). Notifications only
 * shorten waits: readers still poll, so a lost connection costs latency, never events.
 */
export async function createAppendNotifier(
  connectionString: string,
  onError?: (error: unknown) => void,
): Promise<AppendNotifier> {
  const listeners = new Set<(streamId: string) => void>();
  const client = new pg.Client({ connectionString, application_name: 'omni-append-notifier' });
  client.on('notification', (message) => {
    for (const listener of listeners) listener(message.payload ?? '');
  });
  client.on('error', (error) => onError?.(error));
  await client.connect();
  await client.query('listen omni_events');
  return {
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      listeners.clear();
      await client.end().catch(() => undefined);
    },
  };
}

/** Resolves on the next notification `accept` lets through, after `maxWaitMs`, or when `signal` aborts. */
export function nextAppend(
  notifier: AppendNotifier | undefined,
  options: {
    readonly maxWaitMs: number;
    readonly signal?: AbortSignal;
    readonly accept?: (streamId: string) => boolean;
  },
): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      unsubscribe?.();
      options.signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, options.maxWaitMs);
    const unsubscribe = notifier?.subscribe((streamId) => {
      if (!options.accept || options.accept(streamId)) done();
    });
    if (options.signal?.aborted) done();
    else options.signal?.addEventListener('abort', done, { once: true });
  });
}
