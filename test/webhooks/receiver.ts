import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** How the receiver answers the n-th request (from 1) to a path; returning nothing leaves it hanging. */
export type Answer = (response: ServerResponse, request: ReceivedRequest, count: number) => void;

export interface Receiver {
  readonly url: string;
  readonly port: number;
  readonly received: ReceivedRequest[];
  /** Sets how requests to `path` are answered (default: 200). */
  answer(path: string, how: Answer): void;
  close(): Promise<void>;
}

/** A webhook receiver on 127.0.0.1 that records every request it gets. */
export async function startReceiver(): Promise<Receiver> {
  const received: ReceivedRequest[] = [];
  const answers = new Map<string, Answer>();
  const counts = new Map<string, number>();
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '/';
      const recorded = { path, headers: request.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(recorded);
      const count = (counts.get(path) ?? 0) + 1;
      counts.set(path, count);
      const how = answers.get(path) ?? ((res: ServerResponse) => res.writeHead(200).end('ok'));
      how(response, recorded, count);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    answer: (path, how) => void answers.set(path, how),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Checks a delivery's signature as a receiver would, with node:crypto alone (not the product's
 * code): HMAC-SHA256 keyed with the base64 after `whsec_`, over `id.timestamp.body`.
 */
export function signatureIsValid(request: ReceivedRequest, secret: string): boolean {
  const id = request.headers['webhook-id'];
  const timestamp = request.headers['webhook-timestamp'];
  const signatures = String(request.headers['webhook-signature'] ?? '').split(' ');
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${request.body}`).digest();
  return signatures.some((signature) => {
    const [version, mac] = signature.split(',');
    const given = Buffer.from(mac ?? '', 'base64');
    return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
  });
}
