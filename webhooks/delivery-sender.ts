import type { Logger } from 'pino';
import { createWakeableSleep } from '../events/wakeable-sleep.ts';
import { type DeliveryBackoff, retryDelayMs } from './delivery-backoff.ts';
import type { ClaimedDelivery, DeliveryQueue } from './delivery-queue.ts';
import type { Resolve } from './pinned-target.ts';
import { type AttemptOutcome, postWebhook } from './post-webhook.ts';
import { callbackSecret, type SigningKeys } from './signing-keys.ts';
import { webhookHeaders } from './webhook-signature.ts';
import type { WebhookSubscriptions } from './webhook-subscriptions.ts';

export interface DeliverySenderDeps {
  readonly queue: DeliveryQueue;
  readonly subscriptions: WebhookSubscriptions;
  readonly signing: SigningKeys;
  readonly logger: Logger;
  readonly allowPrivate: boolean;
  readonly timeoutMs: number;
  readonly backoff: DeliveryBackoff;
  /** Deliveries attempted at once by this process. */
  readonly concurrency: number;
  /** Deliveries one tenant may have in flight at once, across all processes. */
  readonly perTenant: number;
  /** Longest wait between looks at the work list when nothing wakes the sender. */
  readonly pollMs: number;
  readonly resolve?: Resolve;
  /** Told of every attempt made (for metrics), whether or not it could be recorded. */
  readonly onAttempt?: (outcome: AttemptOutcome) => void;
}

export interface RunningSender {
  /** Looks at the work list now (new deliveries were owed). */
  wake(): void;
  stop(): Promise<void>;
}

/** The secrets a delivery is signed with: its subscription's, or the job's callback secret under every key. */
async function secretsFor(delivery: ClaimedDelivery, deps: DeliverySenderDeps): Promise<readonly string[]> {
  if (delivery.subscriptionId === null)
    return deps.signing.keys.map((key) => callbackSecret(key.key, delivery.jobId));
  const secret = await deps.subscriptions.secretOf(delivery.subscriptionId);
  if (secret === undefined) throw new Error(`webhook subscription ${delivery.subscriptionId} has no secret`);
  return [secret];
}

/**
 * Takes due deliveries from the work list and attempts each: signed per Standard Webhooks, the
 * outcome recorded as an event on the job's stream, a failure retried with backoff until the
 * delivery's give-up time. Any number of senders may run; each delivery is leased to one.
 */
export function startDeliverySender(deps: DeliverySenderDeps): RunningSender {
  const { sleep, wake } = createWakeableSleep();
  // A lease outlives the longest attempt, so no live holder ever loses one mid-attempt.
  const leaseMs = 2 * deps.timeoutMs + 5_000;
  let stopped = false;

  const attempt = async (delivery: ClaimedDelivery) => {
    const secrets = await secretsFor(delivery, deps);
    const content = { id: delivery.id, timestamp: Math.floor(Date.now() / 1000), body: delivery.body };
    const outcome: AttemptOutcome = await postWebhook({
      url: delivery.url,
      headers: webhookHeaders(content, secrets),
      body: delivery.body,
      timeoutMs: deps.timeoutMs,
      allowPrivate: deps.allowPrivate,
      ...(deps.resolve ? { resolve: deps.resolve } : {}),
    });
    deps.onAttempt?.(outcome);
    let retryAt: Date | undefined;
    // An address deliveries may not reach stays so on the next attempt: given up at once.
    if (!outcome.delivered && outcome.reason !== 'forbidden-address') {
      const due = new Date(Date.now() + retryDelayMs(deps.backoff, delivery.attempt, Math.random()));
      if (due < delivery.giveUpAt) retryAt = due;
    }
    if (!(await deps.queue.record(delivery, outcome, retryAt))) {
      deps.logger.warn(
        { deliveryId: delivery.id },
        'another sender took this delivery over; its attempt is not recorded',
      );
    }
  };

  // A pool, not batches: a receiver that hangs holds one slot until its timeout, not the rest.
  const inFlight = new Set<Promise<void>>();
  const start = (delivery: ClaimedDelivery) => {
    const running = attempt(delivery)
      .catch((error: unknown) => {
        // Unrecorded, its lease lapses and the attempt is made again: at least once.
        deps.logger.error(
          { err: error, deliveryId: delivery.id },
          'webhook delivery failed to run; retried when its lease lapses',
        );
      })
      .finally(() => {
        inFlight.delete(running);
        wake();
      });
    inFlight.add(running);
  };

  const loop = (async () => {
    while (!stopped) {
      try {
        const free = deps.concurrency - inFlight.size;
        const claimed = free > 0 ? await deps.queue.claim(free, leaseMs, deps.perTenant) : [];
        for (const delivery of claimed) start(delivery);
        if (claimed.length === 0 || claimed.length === free) await sleep(deps.pollMs);
      } catch (error) {
        deps.logger.error({ err: error }, 'webhook work list unreadable; retrying');
        await sleep(deps.pollMs);
      }
    }
    await Promise.all(inFlight);
  })();

  return {
    wake,
    async stop() {
      stopped = true;
      wake();
      await loop;
    },
  };
}
