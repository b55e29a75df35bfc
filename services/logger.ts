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
