import { randomUUID } from 'node:crypto';

/** What one submission ended as, from the client's side. */
export type SubmitOutcome =
  | {
      readonly kind: 'accepted';
      readonly id: string;
      /** First try → the 2xx: what the fault cost this client in waiting. */
      readonly waitedMs: number;
      readonly tries: number;
    }
  | { readonly kind: 'refused'; readonly status: number; readonly tries: number }
  | { readonly kind: 'unanswered'; readonly error: string; readonly tries: number };

export interface SteadySubmitterOptions {
  readonly url: string;
  readonly token: string;
  readonly perSecond: number;
  /** The job body; each submission gets its own Idempotency-Key. */
  readonly body: () => unknown;
  /** How long one submission keeps retrying 503s and timeouts before it gives up. */
  readonly giveUpMs: number;
  /** A request that has not answered in this long is abandoned and sent again with its key. */
  readonly requestTimeoutMs: number;
}

export interface SteadySubmitter {
  /** Stops starting new submissions and waits for the ones in flight to settle. */
  stop(): Promise<SubmitOutcome[]>;
  /** HTTP statuses seen, retries included (`timeout` and `network` for requests without one). */
  readonly statuses: Map<string, number>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Submits jobs at a steady rate the way a careful client would: a 503 (the API said it cannot
 * take the job now) or a request that never answered is sent again with the same Idempotency-Key,
 * so a retry never makes a second job; a job counts as accepted only once the API answered 2xx.
 */
export function startSteadySubmitter(options: SteadySubmitterOptions): SteadySubmitter {
  const statuses = new Map<string, number>();
  const count = (key: string) => statuses.set(key, (statuses.get(key) ?? 0) + 1);
  const inFlight: Promise<SubmitOutcome>[] = [];
  let stopped = false;

  const submitOne = async (): Promise<SubmitOutcome> => {
    const key = randomUUID();
    const body = JSON.stringify(options.body());
    const firstTriedAt = Date.now();
    const giveUpAt = firstTriedAt + options.giveUpMs;
    let tries = 0;
    let last: SubmitOutcome = { kind: 'unanswered', error: 'never sent', tries };
    while (Date.now() < giveUpAt) {
      tries += 1;
      try {
        const response = await fetch(`${options.url}/v1/jobs`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${options.token}`,
            'content-type': 'application/json',
            'idempotency-key': key,
          },
          body,
          signal: AbortSignal.timeout(options.requestTimeoutMs),
        });
        count(String(response.status));
        if (response.ok) {
          const { id } = (await response.json()) as { id: string };
          return { kind: 'accepted', id, waitedMs: Date.now() - firstTriedAt, tries };
        }
        await response.body?.cancel();
        last = { kind: 'refused', status: response.status, tries };
        if (response.status !== 503) return last;
      } catch (error) {
        const timedOut = (error as Error).name === 'TimeoutError';
        count(timedOut ? 'timeout' : 'network');
        last = { kind: 'unanswered', error: (error as Error).message, tries };
      }
      await sleep(250);
    }
    return last;
  };

  const loop = (async () => {
    const interval = 1000 / options.perSecond;
    const began = Date.now();
    for (let i = 0; !stopped; i += 1) {
      inFlight.push(submitOne());
      await sleep(Math.max(0, began + (i + 1) * interval - Date.now()));
    }
  })();

  return {
    statuses,
    async stop() {
      stopped = true;
      await loop;
      return Promise.all(inFlight);
    },
  };
}
