import type { MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import { ProblemError } from './problem.ts';
import {
  hasScope,
  InvalidTokenError,
  type Principal,
  type Scope,
  type TokenRefusalCode,
  tokenRefusals,
} from './token-verifier.ts';

export type AuthVariables = { principal: Principal };

export interface BearerAuthOptions {
  readonly verify: (token: string) => Promise<Principal>;
  readonly logger?: Logger;
}

const unauthorized = (detail: string, code: TokenRefusalCode = 'unauthorized') =>
  new ProblemError({
    status: 401,
    code,
    title: 'Authentication required',
    detail,
    headers: { 'www-authenticate': 'Bearer realm="omni"' },
  });

/** Verifies `Authorization: Bearer <jwt>` and puts the principal on the context. */
export function bearerAuth(options: BearerAuthOptions): MiddlewareHandler<{ Variables: AuthVariables }> {
  return async (c, next) => {
    const match = c.req.header('authorization')?.match(/^Bearer\s+([A-Za-z0-9._~+/=-]+)$/i);
    if (!match?.[1]) {
      options.logger?.info(
        { path: c.req.path, requestId: c.get('requestId' as never) },
        'refused: no bearer token',
      );
      throw unauthorized('a bearer token is required');
    }
    try {
      c.set('principal', await options.verify(match[1]));
    } catch (error) {
      if (!(error instanceof InvalidTokenError)) throw error;
      // The reason goes to the log (without the token); the client learns the refusal's code and its
      // fixed sentence, never the verifier's own words.
      options.logger?.info(
        { path: c.req.path, reason: error.message, code: error.code, requestId: c.get('requestId' as never) },
        'refused: invalid token',
      );
      throw unauthorized(tokenRefusals[error.code], error.code);
    }
    await next();
  };
}

/** Refuses the request with 403 unless the principal holds `scope` (or `admin`). */
export function requireScope(scope: Scope): MiddlewareHandler<{ Variables: AuthVariables }> {
  return async (c, next) => {
    if (!hasScope(c.get('principal'), scope)) {
      throw new ProblemError({
        status: 403,
        code: 'insufficient-scope',
        title: 'Missing scope',
        detail: `this requires the ${scope} scope`,
      });
    }
    await next();
  };
}
