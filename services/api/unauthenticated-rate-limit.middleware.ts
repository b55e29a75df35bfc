import type { MiddlewareHandler } from 'hono';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { addressBucket, type ClientAddressVariables } from './client-address.ts';
import { problemResponse } from './problem.ts';
import { rateLimited } from './rate-limit.middleware.ts';

export interface UnauthenticatedRateLimitOptions {
  readonly redis: Redis;
  readonly keyPrefix: string;
  readonly windowSeconds: number;
  /** Requests per window and client address that may fail authentication (or carry no token). */
  readonly perAddress: number;
  readonly logger?: Logger;
}

/**
 * A budget per client address for requests that authentication refuses, shared by every replica
 * through Redis. Past it, such requests get 429 instead of 401: a flood of bad or missing tokens
 * is cut off, while a valid token from the same address still gets in (the limit counts only
 * refusals, so it costs nothing to requests that authenticate). Goes in front of bearer auth.
 */
export function unauthenticatedRateLimit(
  options: UnauthenticatedRateLimitOptions,
): MiddlewareHandler<{ Variables: ClientAddressVariables }> {
  const limiter = new RateLimiterRedis({
    storeClient: options.redis,
    keyPrefix: `${options.keyPrefix}:rl:unauthenticated`,
    points: options.perAddress,
    duration: options.windowSeconds,
  });
  let warnedAt = 0;
  return async (c, next) => {
    await next();
    if (c.res.status !== 401) return;
    try {
      await limiter.consume(addressBucket(c.get('clientAddress')));
    } catch (reason) {
      if (!(reason instanceof RateLimiterRes)) {
        // Redis is down: the request is refused anyway, and its 401 says so truthfully.
        if (Date.now() - warnedAt > 5_000) {
          warnedAt = Date.now();
          options.logger?.warn({ err: reason }, 'unauthenticated rate limit unavailable; answering 401');
        }
        return;
      }
      c.res = problemResponse(c, rateLimited(reason.msBeforeNext));
      // Copied over from the 401; a 429 does not ask for credentials.
      c.res.headers.delete('www-authenticate');
    }
  };
}
