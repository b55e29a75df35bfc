import type { Context } from 'hono';
import type { EventMetadata } from '../../events/event-store.ts';
import { currentTraceparent } from '../../events/trace-context.ts';
import type { Principal } from './token-verifier.ts';

/** The audit facts every command event carries: who, for which tenant, from where, in which request. */
export function auditMetadata(
  c: Context,
  principal: Principal,
  extra: Partial<EventMetadata> = {},
): EventMetadata {
  // Resolved once per request by client-address.ts, which alone knows whether proxies are trusted.
  const clientIp = c.get('clientAddress') as string | undefined;
  const userAgent = c.req.header('user-agent');
  const requestId = c.get('requestId') as string | undefined;
  // The caller's own id, if any, kept apart: it proves nothing about who sent the request.
  const clientRequestId = c.get('clientRequestId') as string | undefined;
  // The request's span context travels with the events, so the dispatcher and worker continue its trace.
  const traceparent = currentTraceparent();
  return {
    actor: principal.subject,
    tenant: principal.tenant,
    ...(principal.tokenId === undefined ? {} : { tokenId: principal.tokenId }),
    ...(clientIp === undefined ? {} : { clientIp }),
    ...(userAgent === undefined ? {} : { userAgent: userAgent.slice(0, 256) }),
    ...(requestId === undefined ? {} : { requestId }),
    ...(clientRequestId === undefined ? {} : { clientRequestId }),
    ...(traceparent === undefined ? {} : { traceparent }),
    ...extra,
  };
}
