import { useEffect, useRef, useState } from 'preact/hooks';

/** How long one load may take before it is given up (at least five intervals). */
const loadTimeoutMs = 10_000;

export interface Polled<T> {
  readonly value: T | undefined;
  readonly error: Error | undefined;
  /** Loads again now, without waiting for the next tick. */
  refresh(): void;
}

/**
 * Loads `load()` now and again every `intervalMs` while the page shows it (the live view of a
 * read model); a new `key` starts over. A slow answer never overlaps the next tick.
 */
export function usePolling<T>(
  key: string,
  load: (signal: AbortSignal) => Promise<T>,
  intervalMs = 1000,
): Polled<T> {
  const [value, setValue] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const loadRef = useRef(load);
  loadRef.current = load;
  const [tick, setTick] = useState(0);
  useEffect(() => {
    setValue(undefined);
    setError(undefined);
  }, [key]);
  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      // One load that never answers (a dropped connection, a stalled proxy) must not freeze the
      // live view: it is given up after a while and the next tick tries again.
      const attempt = new AbortController();
      const giveUp = setTimeout(() => attempt.abort(), Math.max(loadTimeoutMs, 5 * intervalMs));
      const stop = () => attempt.abort();
      controller.signal.addEventListener('abort', stop);
      try {
        const next = await loadRef.current(attempt.signal);
        if (controller.signal.aborted) return;
        setValue(next);
        setError(undefined);
      } catch (caught) {
        if (controller.signal.aborted) return;
        setError(
          attempt.signal.aborted
            ? new Error('the server did not answer in time; trying again')
            : caught instanceof Error
              ? caught
              : new Error(String(caught)),
        );
      } finally {
        clearTimeout(giveUp);
        controller.signal.removeEventListener('abort', stop);
      }
      if (!controller.signal.aborted) timer = setTimeout(run, intervalMs);
    };
    void run();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, [key, intervalMs, tick]);
  return { value, error, refresh: () => setTick((count) => count + 1) };
}
