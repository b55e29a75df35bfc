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
  readonly tenantClaim?: string;
  /** Remember tokens that verified (see verified-token-cache.ts); `false`: check every request. */
  readonly cache?: VerifiedTokenCacheOptions | false;
}

/** A token the verifier refused; the reason is for logs, never for the client. */
export class InvalidTokenError extends Error {
  constructor(reason: string, options?: ErrorOptions) {
    super(reason, options);
    this.name = 'InvalidTokenError';
  }
}

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
    const tenant = payload[tenantClaim];
    if (tenant !== undefined && (typeof tenant !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(tenant))) {
      throw new InvalidTokenError('the tenant claim is malformed');
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

/** True when the principal holds the scope, directly or through `admin`. */
export const hasScope = (principal: Principal, scope: Scope): boolean =>
  principal.scopes.has(scope) || principal.scopes.has('admin');
