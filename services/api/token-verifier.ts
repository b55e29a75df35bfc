import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';
import { cacheVerifiedTokens, type VerifiedTokenCacheOptions } from './verified-token-cache.ts';

/** Scopes a token may carry; `admin` implies every other one and sees every tenant. */
export const scopes = [
  'jobs:submit',
  'jobs:read',
  'jobs:cancel',
  'events:read',
  'secrets:write',
  'secrets:read',
  'files:write',
  'files:read',
  'webhooks:write',
  'webhooks:read',
  'admin',
] as const;
export type Scope = (typeof scopes)[number];

export const defaultTenant = 'default';

/** Who is calling, as established by a verified token. */
export interface Principal {
  readonly subject: string;
  readonly tenant: string;
  readonly scopes: ReadonlySet<string>;
  readonly tokenId?: string;
  /** When the token expires (epoch milliseconds), from its `exp`. */
  readonly expiresAt?: number;
}

export interface TokenVerifierOptions {
  /** HS256 shared secret. */
  readonly secret?: Uint8Array;
  /** Public keys for asymmetric algorithms, given inline. */
  readonly jwks?: JSONWebKeySet;
  /** Or fetched from a URL; jose caches the set and refetches it when a token names an unknown kid. */
  readonly jwksUrl?: string;
  readonly issuer?: string;
  readonly audience?: string;
  readonly clockToleranceSeconds?: number;
  /**
   * Longest lifetime a token may claim: `exp - iat`, or `exp - now` when it has no `iat` (default
   * 24 h). A stolen token is worth at most this long, whatever its issuer wrote.
   */
  readonly maxTokenAgeSeconds?: number;
  readonly tenantClaim?: string;
  /** Remember tokens that verified (see verified-token-cache.ts); `false`: check every request. */
  readonly cache?: VerifiedTokenCacheOptions | false;
}

/**
 * What the client is told about a refused token, by stable code. `unauthorized` covers every
 * failure of the signature or the standard checks (the client cannot fix those by itself); the
 * others name a token that verified but that this API will not honour, so its issuer can fix it.
 */
export const tokenRefusals = {
  unauthorized: 'the bearer token is invalid or expired',
  'token-without-expiry': 'the bearer token has no exp claim: tokens must expire',
  'token-lifetime-too-long':
    'the bearer token lives longer than this API accepts (exp is too far after iat, or from now)',
  'token-issued-in-future':
    "the bearer token was issued in the future (its iat is ahead of this server's clock)",
  'token-claim-malformed':
    'a claim of the bearer token is malformed (sub and jti: 1-256 characters without control characters or lone surrogates; tenant: 1-64 of A-Z a-z 0-9 . _ -)',
} as const;
export type TokenRefusalCode = keyof typeof tokenRefusals;

/** A token the verifier refused; `reason` is for logs, `code` (see tokenRefusals) for the client. */
export class InvalidTokenError extends Error {
  readonly code: TokenRefusalCode;
  constructor(reason: string, options?: ErrorOptions & { readonly code?: TokenRefusalCode }) {
    super(reason, options);
    this.name = 'InvalidTokenError';
    this.code = options?.code ?? 'unauthorized';
  }
}

export const defaultMaxTokenAgeSeconds = 24 * 3600;
const maxClaimLength = 256;
// C0/C1 controls (NUL among them) and lone surrogates: Postgres refuses both in jsonb, and the
// subject and token id are written into every event's metadata.
const unstorableCharacter = /[\p{Cc}\p{Cs}]/u;
const isBoundedClaim = (value: unknown): value is string =>
  typeof value === 'string' &&
  value.length >= 1 &&
  value.length <= maxClaimLength &&
  !unstorableCharacter.test(value);

const asymmetricAlgorithms = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'];

function readScopes(payload: JWTPayload): Set<string> {
  const raw = payload.scope ?? payload.scp;
  if (typeof raw === 'string') return new Set(raw.split(' ').filter(Boolean));
  if (Array.isArray(raw)) return new Set(raw.filter((scope): scope is string => typeof scope === 'string'));
  return new Set();
}

/**
 * Verifies bearer tokens with jose. Each algorithm family is checked only against its own keys: an
 * HS256 token is checked with the shared secret, an asymmetric one with the key set. So `alg: none`
 * and key confusion (an HS256 token "signed" with a public key) both fail.
 */
export function createTokenVerifier(options: TokenVerifierOptions): (token: string) => Promise<Principal> {
  const keySet: JWTVerifyGetKey | undefined = options.jwks
    ? createLocalJWKSet(options.jwks)
    : options.jwksUrl
      ? createRemoteJWKSet(new URL(options.jwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 })
      : undefined;
  const claims = {
    clockTolerance: options.clockToleranceSeconds ?? 30,
    ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
    ...(options.audience === undefined ? {} : { audience: options.audience }),
  };
  const tenantClaim = options.tenantClaim ?? 'tenant';
  const maxTokenAge = options.maxTokenAgeSeconds ?? defaultMaxTokenAgeSeconds;

  const verify = async (token: string): Promise<Principal> => {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch (error) {
      throw new InvalidTokenError('malformed token header', { cause: error });
    }
    let payload: JWTPayload;
    try {
      if (alg === 'HS256' && options.secret) {
        ({ payload } = await jwtVerify(token, options.secret, { ...claims, algorithms: ['HS256'] }));
      } else if (alg !== undefined && asymmetricAlgorithms.includes(alg) && keySet) {
        ({ payload } = await jwtVerify(token, keySet, { ...claims, algorithms: asymmetricAlgorithms }));
      } else {
        throw new InvalidTokenError(`algorithm ${alg ?? '(none)'} is not accepted`);
      }
    } catch (error) {
      if (error instanceof InvalidTokenError) throw error;
      throw new InvalidTokenError((error as Error).message, { cause: error });
    }
    if (typeof payload.sub !== 'string' || payload.sub.length === 0)
      throw new InvalidTokenError('the token has no subject');
    checkLifetime(payload, claims.clockTolerance, maxTokenAge);
    if (!isBoundedClaim(payload.sub))
      throw new InvalidTokenError('the subject is malformed', { code: 'token-claim-malformed' });
    if (payload.jti !== undefined && !isBoundedClaim(payload.jti))
      throw new InvalidTokenError('the token id (jti) is malformed', { code: 'token-claim-malformed' });
    const tenant = payload[tenantClaim];
    if (tenant !== undefined && (typeof tenant !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(tenant))) {
      throw new InvalidTokenError('the tenant claim is malformed', { code: 'token-claim-malformed' });
    }
    return {
      subject: payload.sub,
      tenant: typeof tenant === 'string' ? tenant : defaultTenant,
      scopes: readScopes(payload),
      ...(typeof payload.jti === 'string' ? { tokenId: payload.jti } : {}),
      ...(typeof payload.exp === 'number' ? { expiresAt: payload.exp * 1000 } : {}),
    };
  };
  return options.cache === false ? verify : cacheVerifiedTokens(verify, options.cache);
}

/**
 * jose checks `exp` only when present and `iat` only against a maximum age since issue; this API
 * wants every token to expire within `maxTokenAge` of its issue, and no token from the future.
 */
function checkLifetime(payload: JWTPayload, toleranceSeconds: number, maxTokenAge: number): void {
  if (typeof payload.exp !== 'number')
    throw new InvalidTokenError('the token has no exp', { code: 'token-without-expiry' });
  const now = Math.floor(Date.now() / 1000);
  if (typeof payload.iat === 'number') {
    if (payload.iat > now + toleranceSeconds)
      throw new InvalidTokenError(`iat is ${payload.iat - now} s in the future`, {
        code: 'token-issued-in-future',
      });
    if (payload.exp - payload.iat > maxTokenAge)
      throw new InvalidTokenError(`exp - iat is ${payload.exp - payload.iat} s, over ${maxTokenAge} s`, {
        code: 'token-lifetime-too-long',
      });
  } else if (payload.exp - now > maxTokenAge + toleranceSeconds) {
    throw new InvalidTokenError(`exp is ${payload.exp - now} s from now, over ${maxTokenAge} s`, {
      code: 'token-lifetime-too-long',
    });
  }
}

/** True when the principal holds the scope, directly or through `admin`. */
export const hasScope = (principal: Principal, scope: Scope): boolean =>
  principal.scopes.has(scope) || principal.scopes.has('admin');
