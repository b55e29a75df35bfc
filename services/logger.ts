import { type Logger, pino } from 'pino';

/** Structured JSON logs on stdout; tokens and secrets are never passed to it. */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { service: 'omni', ...bindings },
    redact: {
      paths: ['req.headers.authorization', '*.authorization', '*.token', '*.env'],
      censor: '[redacted]',
    },
  });
}
