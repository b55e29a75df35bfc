import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';

// What Node's request stream fails with when its connection goes away mid-body ('aborted').
const abortCodes = new Set(['ECONNRESET', 'ERR_STREAM_PREMATURE_CLOSE']);

function hasAbortCode(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 3) return false;
  const { code, cause } = error as { code?: unknown; cause?: unknown };
  return (typeof code === 'string' && abortCodes.has(code)) || hasAbortCode(cause, depth + 1);
}

/**
 * Whether `error` is only the client hanging up before its request body was read: the request
 * never completed, its connection is gone, and the error is the body stream's reset (or the 400
 * Hono's validator makes of it, having dropped the cause). Nothing failed on our side and no one
 * is left to answer, so it is neither an unhandled error nor a 500 (nor a malformed request).
 */
export function isClientAbort(error: unknown, c: Context): boolean {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (!incoming || incoming.complete) return false;
  if (!incoming.destroyed && incoming.socket?.destroyed !== true) return false;
  return hasAbortCode(error) || (error instanceof HTTPException && error.status === 400);
}
