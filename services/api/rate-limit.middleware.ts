import type { MiddlewareHandler } from 'hono';
import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { AuthVariables } from './bearer-auth.middleware.ts';
import { ProblemError } from './problem.ts';

export interface RateLimitOptions {
  readonly redis: Redis;
  /** Keeps several deployments (or test files) sharing one Redis apart. */
  readonly keyPrefix: string;
  readonly windowSeconds: number;
  readonly perSubject: number;
  readonly perTenant: number;
  /** Requests per window, per client address, that fail authentication or carry none; absent: no such limit. */
  readonly perAddressUnauthenticated?: number;
}

/** The 429 every limit answers, with the seconds until the window lets the caller in again. */
export function rateLimited(msBeforeNext: number): ProblemError {
  const retryAfter = Math.max(1, Math.ceil(msBeforeNext / 1000));
  return new ProblemError({
    status: 429,
    code: 'rate-limited',
    title: 'Too many requests',
    detail: `retry after ${retryAfter} s`,
    headers: {
      'retry-after': String(retryAfter),
      'ratelimit-remaining': '0',
      'ratelimit-reset': String(retryAfter),
    },
  });
}

/**
 * Fixed-window limits per token subject and per tenant, counted in Redis so every API replica
 * shares them. Runs after authentication; requests that fail it count against their address instead
 * (unauthenticated-rate-limit.middleware.ts).
 */
export function rateLimit(options: RateLimitOptions): MiddlewareHandler<{ Variables: AuthVariables }> {
  const bySubject = new RateLimiterRedis({
    storeClient: options.redis,
    keyPrefix: `${options.keyPrefix}:rl:subject`,
    points: options.perSubject,
    duration: options.windowSeconds,
  });
  const byTenant = new RateLimiterRedis({
    storeClient: options.redis,
    keyPrefix: `${options.keyPrefix}:rl:tenant`,
    points: options.perTenant,
    duration: options.windowSeconds,
  });

  return async (c, next) => {
    const { subject, tenant } = c.get('principal');
    const outcomes = await Promise.allSettled([
      bySubject.consume(`${tenant}\u0000${subject}`).then((res) => ({ res, limit: options.perSubject })),
      byTenant.consume(tenant).then((res) => ({ res, limit: options.perTenant })),
    ]);
    const refused = outcomes.flatMap((outcome) =>
      outcome.status === 'rejected' ? [outcome.reason as unknown] : [],
    );
    if (refused.length > 0) {
      const limits = refused.filter((reason): reason is RateLimiterRes => reason instanceof RateLimiterRes);
      // A Redis failure is not the client's fault: let the error handler answer 500.
      if (limits.length !== refused.length)
        throw refused.find((reason) => !(reason instanceof RateLimiterRes));
      throw rateLimited(Math.max(...limits.map((res) => res.msBeforeNext)));
    }
    const granted = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
    const tightest = granted.reduce((a, b) => (b.res.remainingPoints < a.res.remainingPoints ? b : a));
    c.header('ratelimit-limit', String(tightest.limit));
    c.header('ratelimit-remaining', String(tightest.res.remainingPoints));
    c.header('ratelimit-reset', String(Math.ceil(tightest.res.msBeforeNext / 1000)));
    await next();
  };
}
