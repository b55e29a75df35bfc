import { isIP } from 'node:net';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';

export type ClientAddressVariables = {
  /** The caller's IP address; absent when the request did not come over a socket (`app.request()`). */
  clientAddress?: string;
};

export interface ClientAddressOptions {
  /**
   * How many reverse proxies stand in front of the API and append to `X-Forwarded-For`. 0 (the
   * default): the header is ignored, since any client can write it; the socket's peer is the client.
   */
  readonly trustProxy?: number;
}

// A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; one client, one spelling.
const unmapped = (address: string) => address.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');

function socketAddress(c: Context): string | undefined {
  if (!(c.env as { incoming?: unknown } | undefined)?.incoming) return undefined;
  return getConnInfo(c).remote.address;
}

/**
 * Resolves the client's address once per request. With `trustProxy` N the address is the one
 * the Nth proxy from us saw (counted from the right of `X-Forwarded-For`); entries further left
 * were written by the client and prove nothing. An entry that is not an IP address falls back
 * to the socket's peer.
 */
export function clientAddress(
  options: ClientAddressOptions = {},
): MiddlewareHandler<{ Variables: ClientAddressVariables }> {
  const hops = options.trustProxy ?? 0;
  return async (c, next) => {
    const peer = socketAddress(c);
    let address = peer;
    if (hops > 0 && peer !== undefined) {
      const forwarded = (c.req.header('x-forwarded-for') ?? '')
        .split(',')
        .map((entry) => entry.trim())
        .filter((entry) => entry !== '');
      const chain = [...forwarded, peer];
      const candidate = chain[Math.max(0, chain.length - 1 - hops)];
      if (candidate !== undefined && isIP(candidate) !== 0) address = candidate;
    }
    if (address !== undefined) c.set('clientAddress', unmapped(address));
    await next();
  };
}

/**
 * The bucket a per-address limit counts an address in: an IPv4 address itself, an IPv6 address
 * by its /64, since one subscriber is routinely handed a whole /64 to pick from.
 */
export function addressBucket(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  if (isIP(address) !== 6) return address;
  const [head = '', tail = ''] = address.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
