import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { type Scope, scopes } from './api/token-verifier.ts';
import type { Config } from './config.ts';

/** A random HS256 secret for local runs that configured none. */
const generateDevSecret = (): string => randomBytes(32).toString('base64url');

/** The HS256 secret a process verifies with, and whether it was generated for development. */
export type Hs256Key = { readonly secret: string; readonly generated: boolean } | undefined;

/**
 * Which HS256 key is in force: `JWT_SECRET` when set; a generated development key only when no key
 * of any kind is configured; none when only a key set (JWKS) is, so HS256 tokens are then refused.
 * A deployment that trusts an identity provider must not also trust a key it printed to its logs.
 */
export function hs256KeyFor(auth: Config['auth']): Hs256Key {
  if (auth.jwtSecret !== undefined) return { secret: auth.jwtSecret, generated: false };
  if (auth.jwks !== undefined || auth.jwksUrl !== undefined) return undefined;
  return { secret: generateDevSecret(), generated: true };
}

export interface MintTokenOptions {
  readonly secret: string;
  readonly subject: string;
  readonly ttlSeconds?: number;
  readonly issuer?: string;
  readonly audience?: string;
  readonly tenant?: string;
  /** Defaults to every scope but `admin`. */
  readonly scopes?: readonly string[];
}

/** Every scope a regular client may hold: all but `admin`. */
export const clientScopes: readonly Scope[] = scopes.filter((scope) => scope !== 'admin');

/** Signs an HS256 bearer token; used by `npm start` in development and by tests. */
export async function mintToken(options: MintTokenOptions): Promise<string> {
  let jwt = new SignJWT({
    scope: (options.scopes ?? clientScopes).join(' '),
    tenant: options.tenant ?? 'default',
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(options.subject)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime(`${options.ttlSeconds ?? 3600}s`);
  if (options.issuer) jwt = jwt.setIssuer(options.issuer);
  if (options.audience) jwt = jwt.setAudience(options.audience);
  return jwt.sign(new TextEncoder().encode(options.secret));
}
