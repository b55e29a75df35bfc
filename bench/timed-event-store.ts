// An event store that counts its callers' waits, for the pipeline bench: how much of a worker slot's
// time per job is the stream read and the appends (each waiting for its group's commit), and how
// many of each an attempt makes.
import type { EventStore } from '../events/event-store.ts';

/** Calls and milliseconds waited, per store method, since the store was made. */
export type StoreWaits = Record<string, { calls: number; ms: number }>;

export function timedEventStore(store: EventStore): {
  readonly store: EventStore;
  readonly waits: StoreWaits;
} {
  const waits: StoreWaits = {};
  const timed = new Proxy(store, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== 'function' || typeof name !== 'string') return value;
      return async (...args: unknown[]) => {
        const started = performance.now();
        try {
          return await value.apply(target, args);
        } finally {
          const wait = waits[name] ?? { calls: 0, ms: 0 };
          waits[name] = { calls: wait.calls + 1, ms: wait.ms + performance.now() - started };
        }
      };
    },
  });
  return { store: timed, waits };
}
