import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { type Scope, scopes } from './api/token-verifier.ts';

/** A random HS256 secret for local runs that configured none. */
export const generateDevSecret = (): string => randomBytes(32).toString('base64url');

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
