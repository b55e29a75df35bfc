// What the pipeline bench runs of each system: a producer side in the main thread (HTTP clients and
// server, or library calls) and a consumer side in a thread of its own, as the roles run in processes
// of their own. Each system works on a database of its own on the same Postgres server.

/** The systems whose consumer side the workers thread can host. */
export type ConsumerKind = 'omni' | 'pg-boss' | 'graphile-worker' | 'bullmq';

/** How many producers submit at once, for every system: the 32 HTTP clients, or 32 library callers. */
export const producerCount = 32;

/** Everything a consumer needs to start in the workers thread. */
export interface ConsumerTask {
  readonly kind: ConsumerKind;
  readonly databaseUrl: string;
  readonly redisUrl: string;
  /** BullMQ key prefix, or the pg-boss queue name: unique per run. */
  readonly prefix: string;
  readonly slots: number;
}

/** A consumer running in the workers thread: calls `onCompleted` once per job whose completion is durable. */
export interface Consumer {
  /** Resolves once every job counted so far is completed in its store (pg-boss counts before its completion commits). */
  settled(total: number): Promise<void>;
  /** Where a job's time in a slot went, when the consumer measures it (omni). */
  slot?(): SlotTime;
  stop(): Promise<void>;
}

/**
 * Per job, means: the time its message spent in the worker's processor, within it the waits on each
 * event-store method, and the part of it that held a run slot (the read, the start and the run).
 */
export interface SlotTime {
  readonly ms: number;
  readonly runSlotMs: number;
  readonly store: Readonly<Record<string, { readonly calls: number; readonly ms: number }>>;
}

export type StartConsumer = (task: ConsumerTask, onCompleted: () => void) => Promise<Consumer>;

/** A producer side in the main thread. */
export interface Producer {
  /** Submits `count` jobs from `producerCount` producers at once; resolves when all were accepted. */
  submit(count: number): Promise<{ readonly loadGeneratorCpuMs: number }>;
  stop(): Promise<void>;
}

/** Runs `count` calls of `submitOne` from `producerCount` concurrent loops. */
export async function fromProducers(
  count: number,
  submitOne: (index: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: producerCount }, async () => {
      while (next < count) {
        const index = next;
        next += 1;
        await submitOne(index);
      }
    }),
  );
}

/** CPU by where it was spent (per round, or per job once divided). */
export interface CpuSplit {
  /** The main thread: omni's API, or the producers' library calls. */
  readonly main: number;
  /** The consumer thread: omni's dispatcher and worker, or the peers' workers. */
  readonly consumer: number;
  /** This process's other threads (GC helpers, libuv's pool), less the load generator's. */
  readonly otherThreads: number;
  readonly postgres: number;
  readonly redis: number;
  /** The HTTP clients (omni over HTTP only): the load generator, not the system. */
  readonly loadGenerator: number;
}
