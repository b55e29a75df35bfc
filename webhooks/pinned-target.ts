import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { type AddressClass, classifyAddress, classifyHost } from '../schemas/webhook-url.schema.ts';

/** An address a delivery may connect to, checked before connecting. */
export interface PinnedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/** The addresses of one lookup that deliveries may reach, in the resolver's order (at least one). */
export interface PinnedTarget {
  readonly addresses: readonly [PinnedAddress, ...PinnedAddress[]];
}

/** Why no address was chosen: the name did not resolve, or only to addresses deliveries may not reach. */
export interface RefusedTarget {
  readonly refused: 'dns' | 'forbidden-address';
  readonly detail: string;
}

/** Takes a resolver so tests can hand a name any answer; the system's resolver otherwise. */
export type Resolve = (hostname: string) => Promise<readonly { address: string; family: number }[]>;

const systemResolve: Resolve = (hostname) => lookup(hostname, { all: true, verbatim: true });

const mayReach = (kind: AddressClass, allowPrivate: boolean) =>
  kind === 'public' || (kind === 'private' && allowPrivate);

/**
 * Resolves the URL's host once and picks an address a delivery may reach; the connection is then
 * made to exactly that address (no second lookup a rebinding DNS server could answer differently).
 */
export async function pinTarget(
  url: URL,
  allowPrivate: boolean,
  resolve: Resolve = systemResolve,
): Promise<PinnedTarget | RefusedTarget> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (classifyHost(url.hostname) === 'forbidden') {
    return { refused: 'forbidden-address', detail: `${host} is a link-local, metadata or reserved host` };
  }
  let answers: readonly { address: string; family: number }[];
  if (isIP(host) !== 0) answers = [{ address: host, family: isIP(host) }];
  else {
    try {
      answers = await resolve(host);
    } catch (error) {
      return {
        refused: 'dns',
        detail: `${host} did not resolve: ${(error as { code?: string }).code ?? 'error'}`,
      };
    }
  }
  const allowed = answers
    .filter((answer) => mayReach(classifyAddress(answer.address), allowPrivate))
    .map((answer): PinnedAddress => ({ address: answer.address, family: answer.family === 6 ? 6 : 4 }));
  const [first, ...rest] = allowed;
  if (!first) {
    const seen = answers.map((answer) => answer.address).join(', ') || 'nothing';
    return {
      refused: 'forbidden-address',
      detail: `${host} resolved to ${seen}, none of which deliveries may reach`,
    };
  }
  // Only these: an address of the answer deliveries may not reach is never tried, even as a fallback.
  return { addresses: [first, ...rest] };
}

export const isRefusedTarget = (target: PinnedTarget | RefusedTarget): target is RefusedTarget =>
  'refused' in target;
