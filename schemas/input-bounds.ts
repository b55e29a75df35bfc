import { z } from 'zod';

const day = 24 * 3600 * 1000;

/**
 * The bounds every date and duration a client sends is held to, in one place (the README's job
 * spec lists them). Past them a value could still pass a lenient parser yet become a date Postgres
 * or the events' read schemas refuse (a year past 9999, an offset past ±15:59), and one such event
 * would stop every reader of the log.
 */
export const inputBounds = {
  /** runAt and expiresAt: not before this instant. */
  earliestInstant: '2000-01-01T00:00:00Z',
  /** runAt and expiresAt: not later than this far ahead of now; delayMs at most this. */
  maxAheadMs: 365 * day,
  /** queueTimeoutMs, retry.backoff.initialMs and maxMs: at most this. */
  maxDurationMs: 365 * day,
  /** timeoutMs: at most 2^31 - 1 ms (24.8 days), the longest timer Node sets (a longer one fires at once). */
  maxTimeoutMs: 2 ** 31 - 1,
  /** A UTC offset in a date: at most ±14:00, the widest any time zone uses. */
  maxOffsetMinutes: 14 * 60,
  /** limits.memoryBytes: at most 1 TiB (the operator's maximum clamps it further). */
  maxMemoryBytes: 2 ** 40,
  /** limits.pids: at most 4,194,304, Linux's own pid_max ceiling. */
  maxPids: 2 ** 22,
  /** Date filters of queries (submittedAfter, from, to): within the years 0001 to 9999, in UTC. */
  earliestQueryInstant: '0001-01-01T00:00:00Z',
  latestQueryInstant: '9999-12-31T23:59:59.999Z',
} as const;

const offsetPattern = /([+-])(\d{2}):(\d{2})$/;

/**
 * An RFC 3339 date-time with an offset (Z or ±hh:mm) of at most ±14:00 whose instant lies between
 * `earliest()` and `latest()` (epoch milliseconds, computed at each parse: "a year from now" moves).
 */
export function instantWithin(earliest: () => number, latest: () => number) {
  return z.iso.datetime({ offset: true }).superRefine((value, ctx) => {
    const offset = offsetPattern.exec(value);
    if (offset && Number(offset[2]) * 60 + Number(offset[3]) > inputBounds.maxOffsetMinutes) {
      ctx.addIssue({ code: 'custom', message: 'the UTC offset must be within ±14:00' });
      return;
    }
    const at = Date.parse(value);
    const [from, to] = [earliest(), latest()];
    if (!(at >= from && at <= to)) {
      ctx.addIssue({
        code: 'custom',
        message: `must be between ${new Date(from).toISOString()} and ${new Date(to).toISOString()}`,
      });
    }
  });
}

/** runAt and expiresAt: from 2000 to a year from now. */
export const scheduleInstantSchema = instantWithin(
  () => Date.parse(inputBounds.earliestInstant),
  () => Date.now() + inputBounds.maxAheadMs,
);

/** A date a query filters on: any instant of the years 0001 to 9999. */
export const queryInstantSchema = instantWithin(
  () => Date.parse(inputBounds.earliestQueryInstant),
  () => Date.parse(inputBounds.latestQueryInstant),
);

/** A duration in whole milliseconds: 0 (or 1, when `positive`) up to `inputBounds.maxDurationMs`. */
export const durationMsSchema = (options: { positive?: boolean } = {}) =>
  z
    .number()
    .int()
    .min(options.positive ? 1 : 0)
    .max(inputBounds.maxDurationMs, `at most ${inputBounds.maxDurationMs} ms (365 days)`);
