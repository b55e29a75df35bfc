import { isDatabaseUnavailable } from '../../events/database-errors.ts';

export interface KeepTryingOptions {
  /** Checked after each failure: true ends the retries (the shutdown grace is over). */
  readonly giveUp: () => boolean;
  /** Wakes a wait early so `giveUp` is asked at once (the run's abort signal). */
  readonly signal?: AbortSignal;
  /** Told of each failure that will be retried, with the try number (1 for the first). */
  readonly onRetry?: (error: unknown, tries: number) => void;
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
}

/** What `keepTrying` ended with: the work's value, or `gave-up` with the last error. */
export type KeptOutcome<T> =
  | { readonly status: 'done'; readonly value: T; readonly tries: number }
  | { readonly status: 'gave-up'; readonly error: unknown; readonly tries: number };

/**
 * Runs `work` until it succeeds while Postgres is unreachable, with backoff: an attempt's outcome,
 * once known, is kept in memory and written when the database is back, not lost to a restart.
 * Any other error is thrown at once (a refusal is not retried).
 */
export async function keepTrying<T>(
  work: () => Promise<T>,
  options: KeepTryingOptions,
): Promise<KeptOutcome<T>> {
  let delayMs = options.initialDelayMs ?? 250;
  const maxDelayMs = options.maxDelayMs ?? 5_000;
  for (let tries = 1; ; tries += 1) {
    try {
      return { status: 'done', value: await work(), tries };
    } catch (error) {
      if (!isDatabaseUnavailable(error)) throw error;
      if (options.giveUp()) return { status: 'gave-up', error, tries };
      options.onRetry?.(error, tries);
      await pause(delayMs, options.signal);
      delayMs = Math.min(delayMs * 2, maxDelayMs);
    }
  }
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    // An already aborted signal (a cancel during the run) must not turn the wait into a busy loop.
    if (signal && !signal.aborted) signal.addEventListener('abort', done, { once: true });
  });
}
