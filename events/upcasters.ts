import type { RecordedEvent } from './event-store.ts';

/**
 * Turns the data of one event type stored at `fromVersion` into its shape at `fromVersion + 1`.
 * Pure: stored events are never rewritten, so the same upcaster runs on every read, forever.
 */
export interface Upcaster {
  readonly type: string;
  readonly fromVersion: number;
  readonly upcast: (data: unknown, event: RecordedEvent) => unknown;
}

/** Brings a recorded event to the newest version its type has upcasters for. */
export interface Upcasters {
  upcast(event: RecordedEvent): RecordedEvent;
}

export const noUpcasters: Upcasters = { upcast: (event) => event };

const keyOf = (type: string, version: number) => `${version}:${type}`;

/**
 * A registry of single-step upcasters, chained on read (v1 → v2 → v3), so adding a version means
 * writing one step rather than rewriting every older one.
 */
export function createUpcasters(upcasters: readonly Upcaster[]): Upcasters {
  const steps = new Map<string, Upcaster>();
  for (const upcaster of upcasters) {
    const key = keyOf(upcaster.type, upcaster.fromVersion);
    // Two steps from one version would make the result depend on registration order.
    if (steps.has(key)) throw new Error(`two upcasters for ${upcaster.type} v${upcaster.fromVersion}`);
    steps.set(key, upcaster);
  }
  if (steps.size === 0) return noUpcasters;
  return {
    upcast(event) {
      let step = steps.get(keyOf(event.type, event.schemaVersion));
      if (!step) return event;
      let current = event;
      while (step) {
        current = {
          ...current,
          data: step.upcast(current.data, current),
          schemaVersion: current.schemaVersion + 1,
        };
        step = steps.get(keyOf(current.type, current.schemaVersion));
      }
      return current;
    },
  };
}
