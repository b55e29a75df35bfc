import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';

export type RequestIdVariables = {
  /** The id this server gave the request: always ours, quoted in logs, problems and the audit trail. */
  requestId: string;
  /** The caller's own `X-Request-Id`, when it is well formed: theirs to correlate, never trusted as ours. */
  clientRequestId?: string;
};

export interface RequestIdOptions {
  /** Longest client request id kept; longer ones are ignored, not cut. */
  readonly maxClientIdLength?: number;
}

// Enough for UUIDs, ULIDs and tracing ids; nothing that could break a log line or a header.
const clientIdPattern = /^[A-Za-z0-9._:-]+$/;

/**
 * Gives every request a fresh server-side id (`X-Request-Id` on the response) and keeps the
 * caller's `X-Request-Id` apart as `clientRequestId` (echoed as `X-Client-Request-Id`). Taking the
 * caller's value as ours let anyone stamp another tenant's request id on their own events.
 */
export function requestIds(
  options: RequestIdOptions = {},
): MiddlewareHandler<{ Variables: RequestIdVariables }> {
  const maxLength = options.maxClientIdLength ?? 128;
  return async (c, next) => {
    const requestId = randomUUID();
    c.set('requestId', requestId);
    c.header('x-request-id', requestId);
    const offered = c.req.header('x-request-id');
    if (offered !== undefined && offered.length <= maxLength && clientIdPattern.test(offered)) {
      c.set('clientRequestId', offered);
      c.header('x-client-request-id', offered);
    }
    await next();
  };
}
