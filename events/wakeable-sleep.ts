/** A sleep that another event (a notification, a stop) can cut short. */
export interface WakeableSleep {
  sleep(ms: number): Promise<void>;
  /** Ends the current sleep at once; a no-op when nothing sleeps. */
  wake(): void;
}

/** Polling loops sleep between reads and are woken early by NOTIFY or by stop(). */
export function createWakeableSleep(): WakeableSleep {
  let wake: (() => void) | undefined;
  return {
    sleep: (ms) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        }
        wake = done;
      }),
    wake: () => wake?.(),
  };
}
