import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { WebhookFailureReason } from '../schemas/webhook-events.schema.ts';
import { isRefusedTarget, type PinnedTarget, pinTarget, type Resolve } from './pinned-target.ts';

/** How one attempt ended, as the attempt's event records it. */
export type AttemptOutcome =
  | { readonly delivered: true; readonly status: number; readonly durationMs: number }
  | {
      readonly delivered: false;
      readonly reason: WebhookFailureReason;
      readonly status?: number;
      readonly durationMs?: number;
      readonly detail?: string;
    };

export interface PostWebhookOptions {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** From connecting to the last byte read; past it the attempt failed with `timeout`. */
  readonly timeoutMs: number;
  readonly allowPrivate: boolean;
  /** Read at most this much of the answer; the rest is not waited for. */
  readonly maxResponseBytes?: number;
  readonly resolve?: Resolve;
}

/** 64 KiB: a receiver's answer is read only so it can finish; nothing of it is kept. */
const defaultMaxResponseBytes = 64 * 1024;

/**
 * A lookup that answers the pinned addresses whatever is asked: the socket goes nowhere else. Asked
 * for all (Node's happy eyeballs), it gives every checked one, so an unreachable IPv6 address falls
 * back to the IPv4 one as it would without pinning.
 */
function pinnedLookup(target: PinnedTarget): LookupFunction {
  const [first] = target.addresses;
  return (_hostname, options, callback) => {
    if (options.all) callback(null, [...target.addresses]);
    else callback(null, first.address, first.family);
  };
}

const detailOf = (error: unknown) => {
  const { code, message } = error as { code?: string; message?: string };
  return (code ?? message ?? 'error').slice(0, 500);
};

/**
 * One delivery attempt: resolve once, connect to that address (TLS still checks the name), POST
 * the body, read at most `maxResponseBytes` of the answer. Redirects are not followed: a 3xx is a
 * failure like any other status outside 2xx.
 */
export async function postWebhook(options: PostWebhookOptions): Promise<AttemptOutcome> {
  const url = new URL(options.url);
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  // The lookup counts against the attempt's time too: a resolver that never answers is a timeout.
  let lookupTimer: NodeJS.Timeout | undefined;
  const target = await Promise.race([
    pinTarget(url, options.allowPrivate, options.resolve),
    new Promise<undefined>((resolve) => {
      lookupTimer = setTimeout(() => resolve(undefined), options.timeoutMs);
    }),
  ]).finally(() => clearTimeout(lookupTimer));
  if (target === undefined) {
    return {
      delivered: false,
      reason: 'timeout',
      durationMs: elapsed(),
      detail: `${url.hostname} did not resolve in time`,
    };
  }
  if (isRefusedTarget(target)) return { delivered: false, reason: target.refused, detail: target.detail };
  const maxResponseBytes = options.maxResponseBytes ?? defaultMaxResponseBytes;
  const client = url.protocol === 'https:' ? https : http;

  return new Promise<AttemptOutcome>((resolve) => {
    let settled = false;
    const finish = (outcome: AttemptOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      resolve(outcome);
    };
    const request = client.request(url, {
      method: 'POST',
      headers: { ...options.headers, 'content-length': String(Buffer.byteLength(options.body)) },
      lookup: pinnedLookup(target),
      // A socket of its own each time: a pooled one could outlive the pin or another delivery's.
      agent: false,
    });
    const timer = setTimeout(
      // What the lookup left of the attempt's time.
      () =>
        finish({
          delivered: false,
          reason: 'timeout',
          durationMs: elapsed(),
          detail: `no answer within ${options.timeoutMs} ms`,
        }),
      Math.max(0, options.timeoutMs - elapsed()),
    );
    request.on('error', (error) =>
      finish({ delivered: false, reason: 'connection', durationMs: elapsed(), detail: detailOf(error) }),
    );
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      let read = 0;
      const done = () => {
        const durationMs = elapsed();
        if (status >= 200 && status <= 299) finish({ delivered: true, status, durationMs });
        else
          finish({
            delivered: false,
            reason: 'http-status',
            status,
            durationMs,
            ...(status >= 300 && status <= 399 ? { detail: 'redirects are not followed' } : {}),
          });
      };
      response.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read >= maxResponseBytes) done();
      });
      response.on('end', done);
      response.on('error', (error) =>
        finish({
          delivered: false,
          reason: 'connection',
          status,
          durationMs: elapsed(),
          detail: detailOf(error),
        }),
      );
    });
    request.end(options.body);
  });
}
