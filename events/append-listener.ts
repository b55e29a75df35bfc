import pg from 'pg';

/** Wakes in-process readers when any process appends; one LISTEN connection serves them all. */
export interface AppendListener {
  /** Calls `listener` with the stream id of every append, until the returned function is called. */
  subscribe(listener: (streamId: string) => void): () => void;
  close(): Promise<void>;
}

export interface AppendListenerOptions {
  /** First wait before reconnecting a lost LISTEN session; doubles up to `maxReconnectDelayMs`. */
  readonly reconnectDelayMs?: number;
  readonly maxReconnectDelayMs?: number;
  /** Told once the LISTEN session is back after a loss. */
  readonly onReconnect?: () => void;
}

/**
 * LISTENs on `omni_events`, which the store notifies with the stream id after an append commits
 * (notify-after-commit.ts). Notifications only shorten waits: readers still poll, so a lost
 * connection costs latency, never events. A lost session (a Postgres restart) is reopened with
 * backoff, so feeds do not stay on polling until the process restarts; the first connect must
 * succeed (the caller starts only with the database up).
 */
export async function createAppendListener(
  connectionString: string,
  onError?: (error: unknown) => void,
  options: AppendListenerOptions = {},
): Promise<AppendListener> {
  const listeners = new Set<(streamId: string) => void>();
  const firstDelayMs = options.reconnectDelayMs ?? 250;
  const maxDelayMs = options.maxReconnectDelayMs ?? 5_000;
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;

  const open = async (): Promise<void> => {
    const next = new pg.Client({ connectionString, application_name: 'omni-append-listener' });
    next.on('notification', (message) => {
      for (const listener of listeners) listener(message.payload ?? '');
    });
    // One loss reported once: pg emits 'error' and then 'end' for a terminated session.
    let lost = false;
    const onLost = (error?: unknown) => {
      if (lost) return;
      lost = true;
      if (error) onError?.(error);
      if (client === next) {
        client = undefined;
        scheduleReconnect(firstDelayMs);
      }
    };
    next.on('error', onLost);
    next.on('end', () => onLost());
    try {
      await next.connect();
      await next.query('listen omni_events');
    } catch (error) {
      lost = true;
      await next.end().catch(() => undefined);
      throw error;
    }
    if (closed) {
      await next.end().catch(() => undefined);
      return;
    }
    client = next;
  };

  const scheduleReconnect = (delayMs: number) => {
    if (closed) return;
    retry = setTimeout(() => {
      open().then(
        () => options.onReconnect?.(),
        (error: unknown) => {
          onError?.(error);
          scheduleReconnect(Math.min(delayMs * 2, maxDelayMs));
        },
      );
    }, delayMs);
    retry.unref();
  };

  await open();
  return {
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      listeners.clear();
      await client?.end().catch(() => undefined);
    },
  };
}

/** Resolves on the next notification `accept` lets through, after `maxWaitMs`, or when `signal` aborts. */
export function nextAppend(
  appendListener: AppendListener | undefined,
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
    const unsubscribe = appendListener?.subscribe((streamId) => {
      if (!options.accept || options.accept(streamId)) done();
    });
    if (options.signal?.aborted) done();
    else options.signal?.addEventListener('abort', done, { once: true });
  });
}
