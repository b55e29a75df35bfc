import { trace } from '@opentelemetry/api';
import { type DestinationStream, type Logger, pino } from 'pino';

/**
 * Structured JSON logs (stdout unless told otherwise); tokens and secrets are never passed to it.
 * Every line written inside a span carries its trace and span ids, so logs and traces join up.
 */
export function createLogger(
  level: string,
  bindings: Record<string, unknown> = {},
  destination?: DestinationStream,
): Logger {
  return pino(
    {
      level,
      base: { service: 'omni', ...bindings },
      redact: {
        paths: ['req.headers.authorization', '*.authorization', '*.token', '*.env'],
        censor: '[redacted]',
      },
      mixin() {
        const span = trace.getActiveSpan();
        if (!span) return {};
        const { traceId, spanId } = span.spanContext();
        return { trace_id: traceId, span_id: spanId };
      },
    },
    destination,
  );
}

/**
 * Lets one line per key through every `intervalMs`: an outage repeats the same error thousands of
 * times a second (every reconnect, every request), and one line every few seconds says as much.
 * `allow` returns how many were held back since the last line let through, or undefined to hold
 * this one back.
 */
export function createLogThrottle(intervalMs = 5_000, now: () => number = Date.now) {
  const last = new Map<string, { at: number; held: number }>();
  return {
    allow(key: string): number | undefined {
      const entry = last.get(key);
      const at = now();
      if (entry && at - entry.at < intervalMs) {
        entry.held += 1;
        return undefined;
      }
      // Bounded: keys are error codes and messages, but a message can carry an id.
      if (!entry && last.size >= 1000) last.clear();
      last.set(key, { at, held: 0 });
      return entry?.held ?? 0;
    },
  };
}

/**
 * Reports errors of a dependency (Redis, Postgres, BullMQ) as one short JSON line with what to do,
 * at most once per few seconds per kind of error: an outage prints a line every few seconds, not
 * one per reconnect attempt. Ids in messages (BullMQ's `Missing key for job …`) do not make a
 * new kind.
 */
export function createFaultLog(logger: Logger, intervalMs = 5_000) {
  const throttle = createLogThrottle(intervalMs);
  return (source: string, hint: string) =>
    (error: unknown): void => {
      const message = (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
      const code = (error as { code?: unknown } | null)?.code;
      const kind = `${source}|${String(code)}|${message.replace(/[0-9a-f-]{8,}|\d+/gi, '#')}`;
      const repeated = throttle.allow(kind);
      if (repeated === undefined) return;
      logger.warn(
        { source, error: { message, ...(code === undefined ? {} : { code }) }, repeated },
        `${source}: ${message}; ${hint}`,
      );
    };
}
