import { useEffect, useRef, useState } from 'preact/hooks';

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
      try {
        const next = await loadRef.current(controller.signal);
        if (controller.signal.aborted) return;
        setValue(next);
        setError(undefined);
      } catch (caught) {
        if (controller.signal.aborted) return;
        setError(caught instanceof Error ? caught : new Error(String(caught)));
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
