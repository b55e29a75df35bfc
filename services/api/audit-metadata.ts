import type { Context } from 'hono';
import type { EventMetadata } from '../../events/event-store.ts';
import type { Principal } from './token-verifier.ts';

/** The audit facts every command event carries: who, for which tenant, from where, in which request. */
export function auditMetadata(c: Context, principal: Principal, extra: Partial<EventMetadata> = {}): EventMetadata {
  const clientIp = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket?.remoteAddress;
  const userAgent = c.req.header('user-agent');
  const requestId = c.get('requestId') as string | undefined;
  return {
    actor: principal.subject,
    tenant: principal.tenant,
    ...(principal.tokenId === undefined ? {} : { tokenId: principal.tokenId }),
    ...(clientIp === undefined ? {} : { clientIp }),
    ...(userAgent === undefined ? {} : { userAgent: userAgent.slice(0, 256) }),
    ...(requestId === undefined ? {} : { requestId }),
    ...extra,
  };
}
