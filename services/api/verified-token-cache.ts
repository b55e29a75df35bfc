import type { Principal } from './token-verifier.ts';

export interface VerifiedTokenCacheOptions {
  /** Tokens remembered at most; the oldest is forgotten first. */
  readonly maxEntries?: number;
  /** How long a verification is trusted without checking the signature again. */
  readonly maxAgeMs?: number;
  readonly now?: () => number;
}

const defaultVerifiedTokenCache = { maxEntries: 10_000, maxAgeMs: 60_000 } as const;

interface Remembered {
  readonly principal: Principal;
  readonly until: number;
}

/**
 * Remembers tokens that verified, keyed by the whole token (its signature included), so a client
 * sending the same token with every request pays for one signature check a minute instead of one
 * per request: checking an HS256 signature was about a tenth of the API's CPU per submitted job.
 * A remembered token is still refused from its `exp` on (to the millisecond, without the clock
 * tolerance the first check allowed), and is checked again after `maxAgeMs`, so a key removed from
 * a JWKS stops working within that time. Refusals are never remembered: a bad token costs a check
 * every time and cannot push good ones out.
 */
export function cacheVerifiedTokens(
  verify: (token: string) => Promise<Principal>,
  options: VerifiedTokenCacheOptions = {},
): (token: string) => Promise<Principal> {
  const maxEntries = options.maxEntries ?? defaultVerifiedTokenCache.maxEntries;
  const maxAgeMs = options.maxAgeMs ?? defaultVerifiedTokenCache.maxAgeMs;
  const now = options.now ?? Date.now;
  const remembered = new Map<string, Remembered>();

  return async (token) => {
    const known = remembered.get(token);
    const at = now();
    if (known && at < known.until) return known.principal;
    if (known) remembered.delete(token);
    const principal = await verify(token);
    const until = Math.min(at + maxAgeMs, principal.expiresAt ?? Number.POSITIVE_INFINITY);
    if (until > at) {
      if (remembered.size >= maxEntries) {
        const oldest = remembered.keys().next();
        if (!oldest.done) remembered.delete(oldest.value);
      }
      remembered.set(token, { principal, until });
    }
    return principal;
  };
}
