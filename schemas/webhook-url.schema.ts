import { BlockList, isIP } from 'node:net';
import { z } from 'zod';

/** The longest webhook URL taken: browsers' and proxies' common limit, and small in every event. */
const maxWebhookUrlLength = 2048;

/**
 * Where a delivery may go: `public` always, `private` (loopback, RFC 1918, unique local) only when
 * the operator allows it, `forbidden` never (link-local holds cloud metadata services, and 0/8,
 * multicast and broadcast reach nothing a receiver should be).
 */
export type AddressClass = 'public' | 'private' | 'forbidden';

function blockList(subnets: readonly (readonly [string, number])[]): BlockList {
  const list = new BlockList();
  for (const [network, prefix] of subnets)
    list.addSubnet(network, prefix, isIP(network) === 6 ? 'ipv6' : 'ipv4');
  return list;
}

const forbiddenSubnets = blockList([
  ['0.0.0.0', 8],
  ['169.254.0.0', 16],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
  // Alibaba Cloud's metadata service sits outside link-local.
  ['100.100.100.200', 32],
  ['::', 128],
  ['fe80::', 10],
  ['ff00::', 8],
  // Amazon's IPv6 metadata address (fd00:ec2::254) lies inside fc00::/7; it is never a receiver.
  ['fd00:ec2::254', 128],
]);

const privateSubnets = blockList([
  ['127.0.0.0', 8],
  ['10.0.0.0', 8],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  // Carrier-grade NAT: inside a provider's network, as private as RFC 1918 to a receiver.
  ['100.64.0.0', 10],
  ['::1', 128],
  ['fc00::', 7],
]);

/** The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::/96) IPv6 address. */
function embeddedIpv4(address: string): string | undefined {
  const match = /^(?:::ffff:|64:ff9b::)(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/i.exec(
    address,
  );
  if (!match) return undefined;
  if (match[1]) return match[1];
  const high = Number.parseInt(match[2] ?? '0', 16);
  const low = Number.parseInt(match[3] ?? '0', 16);
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}

/** Classifies an IP address (v4 or v6, without brackets); an IPv4 address inside IPv6 counts as itself. */
export function classifyAddress(address: string): AddressClass {
  const family = isIP(address);
  if (family === 0) return 'forbidden';
  const inner = family === 6 ? embeddedIpv4(address) : undefined;
  if (inner !== undefined) return classifyAddress(inner);
  const type = family === 6 ? 'ipv6' : 'ipv4';
  if (address === '255.255.255.255' || forbiddenSubnets.check(address, type)) return 'forbidden';
  if (privateSubnets.check(address, type)) return 'private';
  return 'public';
}

/** Names of cloud metadata services: refused by name, whatever they resolve to. */
const metadataNames = new Set([
  'metadata',
  'metadata.google.internal',
  'metadata.goog',
  'instance-data',
  'instance-data.ec2.internal',
  'metadata.tencentyun.com',
]);

/**
 * What a URL's host says before any lookup: an address literal's class, `forbidden` for a metadata
 * name, `private` for localhost, and `name` for anything the resolver decides at delivery.
 */
export function classifyHost(hostname: string): AddressClass | 'name' {
  const bare = hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (isIP(bare) !== 0) return classifyAddress(bare);
  const name = bare.replace(/\.$/, '');
  if (metadataNames.has(name)) return 'forbidden';
  if (name === 'localhost' || name.endsWith('.localhost')) return 'private';
  return 'name';
}

/**
 * A webhook target: an http(s) URL of at most 2048 characters with no credentials in it (they
 * would sit in every event naming the URL), whose host is not a literal forbidden address. Private
 * literals pass here; the caller refuses them unless the operator allows private targets.
 */
export const webhookUrlSchema = z
  .string()
  .max(maxWebhookUrlLength)
  .superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be an absolute http or https URL' });
      return;
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      ctx.addIssue({ code: 'custom', message: 'must be an http or https URL' });
    } else if (url.username !== '' || url.password !== '') {
      ctx.addIssue({ code: 'custom', message: 'must not carry credentials' });
    } else if (classifyHost(url.hostname) === 'forbidden') {
      ctx.addIssue({
        code: 'custom',
        message: 'must not point at a link-local, metadata or reserved address',
      });
    }
  });

/** Whether a URL's literal host is private (a loopback or private address, or localhost). */
export const isPrivateWebhookUrl = (value: string): boolean =>
  classifyHost(new URL(value).hostname) === 'private';
