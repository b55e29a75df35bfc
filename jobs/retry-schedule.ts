import type { RetryReason } from '../schemas/job-events.schema.ts';
import type { RetryPolicy } from '../schemas/job-spec.schema.ts';

/** When the next attempt is due, or undefined when the policy gives up. */
export interface ScheduledRetry {
  readonly attempt: number;
  readonly dueAt: Date;
}

/**
 * Exponential backoff with jitter: attempt n failed → wait min(maxMs, initialMs · multiplier^(n-1)),
 * less up to `jitter` of it (random in [0, 1) comes in, so this stays pure). Jitter only shortens
 * the wait, so maxMs stays a true bound and retries of a burst of failures spread out.
 */
export function scheduleRetry(
  policy: RetryPolicy | undefined,
  failedAttempt: number,
  reason: RetryReason,
  now: Date,
  random: number,
): ScheduledRetry | undefined {
  if (!policy || failedAttempt >= policy.maxAttempts || !policy.on.includes(reason)) return undefined;
  const { initialMs, multiplier, maxMs, jitter } = policy.backoff;
  const base = Math.min(maxMs, initialMs * multiplier ** (failedAttempt - 1));
  const delayMs = Math.round(base * (1 - jitter * Math.min(Math.max(random, 0), 1)));
  return { attempt: failedAttempt + 1, dueAt: new Date(now.getTime() + delayMs) };
}
