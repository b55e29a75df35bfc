/** How long a failed delivery waits before its next attempt: doubling from `initialMs`, capped. */
export interface DeliveryBackoff {
  readonly initialMs: number;
  readonly maxMs: number;
}

/** 1 s, 2 s, 4 s … up to 5 minutes: quick after a blip, gentle on a receiver that is down. */
export const defaultDeliveryBackoff: DeliveryBackoff = { initialMs: 1_000, maxMs: 5 * 60_000 };

/**
 * The wait after attempt `attempt` failed, with up to 20 % added at random (`random` in [0, 1)) so
 * deliveries that failed together do not all come back at once.
 */
export function retryDelayMs(backoff: DeliveryBackoff, attempt: number, random: number): number {
  const base = Math.min(backoff.initialMs * 2 ** Math.min(attempt - 1, 30), backoff.maxMs);
  return Math.round(base * (1 + 0.2 * random));
}
