import type { MiddlewareHandler } from 'hono';
import { jwtVerify } from 'jose';
import { ProblemError } from './problem.ts';

export interface BearerAuthOptions {
  /** HS256 key. */
  readonly secret: Uint8Array;
  readonly issuer?: string;
  readonly audience?: string;
  /** Tolerated clock difference, in seconds. */
  readonly clockToleranceSeconds?: number;
}

/** Who is calling, as established by a verified token. */
export interface Principal {
  readonly subject: string;
  readonly tokenId?: string;
}

export type AuthVariables = { principal: Principal };

const unauthorized = (detail: string) =>
  new ProblemError({
    status: 401,
    code: 'unauthorized',
    title: 'Authentication required',
    detail,
    headers: { 'www-authenticate': 'Bearer realm="omni"' },
  });

/** Verifies `Authorization: Bearer <jwt>` with jose; only HS256 is accepted, so `none` and key confusion fail. */
export function bearerAuth(options: BearerAuthOptions): MiddlewareHandler<{ Variables: AuthVariables }> {
  return async (c, next) => {
    const header = c.req.header('authorization');
    const match = header?.match(/^Bearer\s+([A-Za-z0-9._~+/=-]+)$/i);
    if (!match?.[1]) throw unauthorized('a bearer token is required');
    let payload: Awaited<ReturnType<typeof jwtVerify>>['payload'];
    try {
      ({ payload } = await jwtVerify(match[1], options.secret, {
        algorithms: ['HS256'],
        clockTolerance: options.clockToleranceSeconds ?? 30,
        ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
        ...(options.audience === undefined ? {} : { audience: options.audience }),
      }));
    } catch {
      // jose's reason (expired, bad signature...) is deliberately not echoed: it helps attackers more than clients.
      throw unauthorized('the bearer token is invalid or expired');
    }
    if (typeof payload.sub !== 'string' || payload.sub.length === 0) throw unauthorized('the token has no subject');
    c.set('principal', { subject: payload.sub, ...(payload.jti === undefined ? {} : { tokenId: payload.jti }) });
    await next();
  };
}
