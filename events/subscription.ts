import type { Kysely } from 'kysely';
import pg from 'pg';
import { advanceCheckpoint, loadCheckpoint } from './checkpoints.ts';
import { createEventStore, type LogPosition, type RecordedEvent } from './event-store.ts';
import type { Database } from './tables.ts';

export interface SubscriptionOptions {
  readonly db: Kysely<Database>;
  /** A separate connection carries LISTEN, since pooled connections come and go. */
  readonly connectionString: string;
  readonly subscriptionId: string;
  /** Handles one batch; the checkpoint moves past it only when this resolves. */
  readonly handle: (events: readonly RecordedEvent[]) => Promise<void>;
  readonly batchSize?: number;
  /** Longest sleep between reads when no notification arrives. */
  readonly maxPollIntervalMs?: number;
  readonly onError?: (error: unknown) => void;
}

export interface RunningSubscription {
  /** The position handled last. */
  position(): LogPosition;
  stop(): Promise<void>;
}

/**
 * Follows the global log from the subscription's checkpoint: at-least-once delivery in commit-safe
 * order, woken by NOTIFY and falling back to polling with backoff.
 */
export async function startSubscription(options: SubscriptionOptions): Promise<RunningSubscription> {
  const store = createEventStore(options.db);
  const batchSize = options.batchSize ?? 500;
  const maxPollIntervalMs = options.maxPollIntervalMs ?? 1000;
  let position = await loadCheckpoint(options.db, options.subscriptionId);
  let stopped = false;
  let wake: (() => void) | undefined;

  const listener = new pg.Client({ connectionString: options.connectionString, application_name: `omni-listen-${options.subscriptionId}` });
  listener.on('notification', () => wake?.());
  // A lost LISTEN connection only costs latency: polling continues.
  listener.on('error', (error) => options.onError?.(error));
  await listener.connect();
  await listener.query('listen omni_events');

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });

  const loop = (async () => {
    let idleDelay = 25;
    while (!stopped) {
      try {
        const events = await store.readAll(position, batchSize);
        const last = events.at(-1);
        if (!last) {
          await sleep(idleDelay);
          idleDelay = Math.min(idleDelay * 2, maxPollIntervalMs);
          continue;
        }
        idleDelay = 25;
        await options.handle(events);
        const next = { transactionId: last.transactionId, globalPosition: last.globalPosition };
        if (!(await advanceCheckpoint(options.db, options.subscriptionId, position, next))) {
          // Another instance owns this subscription now; reload rather than fight over it.
          position = await loadCheckpoint(options.db, options.subscriptionId);
          continue;
        }
        position = next;
      } catch (error) {
        options.onError?.(error);
        await sleep(maxPollIntervalMs);
      }
    }
  })();

  return {
    position: () => position,
    async stop() {
      stopped = true;
      wake?.();
      await loop;
      await listener.end().catch(() => undefined);
    },
  };
}
