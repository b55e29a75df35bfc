import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { type Job, Worker, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { contextFromTraceparent } from '../events/trace-context.ts';
import { jobQueueName, type RunJobMessage } from './job-queue.ts';
import { createRunSlots, type RunSlot, type RunSlots } from './lifecycle/run-slots.ts';

export interface ExecutorWorkerOptions {
  /** Needs `maxRetriesPerRequest: null`: BullMQ's blocking commands must not time out. */
  readonly connection: Redis;
  readonly prefix: string;
  /** Attempts run at once (see RunSlotWorker for the messages held beyond them). */
  readonly concurrency: number;
  /**
   * `token` is the message's lock token, needed to move it back to delayed (tenant at its limit);
   * `runEnded` frees the message's run slot once its run is over and only recording is left.
   */
  readonly process: (job: Job<RunJobMessage>, token?: string, runEnded?: () => void) => Promise<unknown>;
}

/** The messages one worker holds per run slot: one being read or run, one whose result is recorded. */
export const messagesPerRunSlot = 2;

/**
 * A BullMQ worker whose fetches are bounded by run slots rather than by messages in hand. Reading a
 * job, starting it and running it take a slot; recording the result and the ack take none, so the
 * next message is fetched while the last one's result commits (that wait was a third of a no-op
 * job's time in a slot). A message is fetched only when a slot is free for it, so none waits in
 * hand behind a long run while another worker idles, and the queue's priority order holds as
 * before. The slot is taken where BullMQ fetches: `moveToActive` (its fetch loop, and the fetch
 * after a message put back for later) and the fetch an ack makes for the next message.
 */
class RunSlotWorker extends Worker<RunJobMessage> {
  // Slots taken for fetches, by lock token: while the fetch is in flight, then (fetched) until the
  // message's processing owns it.
  private readonly fetchSlots = new Map<string, { readonly slot: RunSlot; fetched: boolean }>();
  private readonly runSlots: RunSlots;
  // The slot of each message being processed, by lock token, until its run ends.
  private readonly runningSlots = new Map<string, RunSlot>();
  // Wakes a fetch waiting for a slot when another fetch changed state (see moveToActive).
  private wakeFetch: (() => void) | undefined;

  constructor(
    options: WorkerOptions & { readonly concurrency: number },
    processor: (job: Job<RunJobMessage>, token?: string) => Promise<unknown>,
  ) {
    super(jobQueueName, processor, { ...options, concurrency: options.concurrency * messagesPerRunSlot });
    this.runSlots = createRunSlots(options.concurrency);
  }

  /** Frees the run slot of the message under this lock token: its run is over, recording is left. */
  endRun(token: string | undefined): void {
    if (token === undefined) return;
    this.runningSlots.get(token)?.release();
    this.runningSlots.delete(token);
  }

  private reserve(token: string): boolean {
    if (this.fetchSlots.has(token)) return true;
    const slot = this.runSlots.tryTake();
    if (!slot) return false;
    this.fetchSlots.set(token, { slot, fetched: false });
    this.wakeFetch?.();
    return true;
  }

  private fetched(token: string): void {
    const held = this.fetchSlots.get(token);
    if (held) held.fetched = true;
    this.wakeFetch?.();
  }

  private unreserve(token: string): void {
    this.fetchSlots.get(token)?.slot.release();
    this.fetchSlots.delete(token);
    this.wakeFetch?.();
  }

  protected override async moveToActive(token: string, name?: string): Promise<Job<RunJobMessage>> {
    const nothing = undefined as unknown as Job<RunJobMessage>;
    // BullMQ's fetch loop fetches several messages before it starts them. While another fetched
    // message waits to be started this fetch yields nothing, so the loop goes and starts it. With
    // no slot free it waits: for a run to end, or for another fetch to land (an ack's). Yielding
    // nothing at once there would spin the loop on resolved promises and starve the socket.
    for (;;) {
      if (this.closing || this.isPaused()) return nothing;
      for (const [held, { fetched }] of this.fetchSlots) if (held !== token && fetched) return nothing;
      if (this.reserve(token)) break;
      const changed = new Promise<void>((resolve) => {
        this.wakeFetch = resolve;
      });
      await Promise.race([this.runSlots.released(), changed]);
      this.wakeFetch = undefined;
    }
    try {
      const job = await super.moveToActive(token, name);
      if (job) this.fetched(token);
      else this.unreserve(token);
      return job;
    } catch (error) {
      this.unreserve(token);
      throw error;
    }
  }

  override async processJob(
    job: Job<RunJobMessage>,
    token: string,
    fetchNextCallback: () => boolean = () => true,
  ): Promise<Job<RunJobMessage> | undefined> {
    const held = this.fetchSlots.get(token);
    this.fetchSlots.delete(token);
    if (held) this.runningSlots.set(token, held.slot);
    let next: Job<RunJobMessage> | undefined;
    try {
      // The ack fetches the next message only with a slot for it.
      next =
        (await super.processJob(job, token, () => fetchNextCallback() && this.reserve(token))) || undefined;
      return next;
    } finally {
      this.endRun(token);
      if (next) this.fetched(token);
      else this.unreserve(token);
    }
  }
}

/** A BullMQ worker consuming attempts; the processor does the real work. */
export function startExecutorWorker(options: ExecutorWorkerOptions): Worker<RunJobMessage> {
  const tracer = trace.getTracer('omni-worker');
  // Bound below; the processor runs only once the worker exists.
  let worker: RunSlotWorker | undefined;
  const runEnded = (token: string | undefined) => () => worker?.endRun(token);
  // Each attempt continues the trace its message carries (HTTP request → append → dispatcher → here).
  const traced = (job: Job<RunJobMessage>, token?: string) =>
    context.with(contextFromTraceparent(job.data.traceparent), () =>
      tracer.startActiveSpan(
        'run attempt',
        {
          kind: SpanKind.CONSUMER,
          attributes: {
            'omni.job_id': job.data.jobId,
            'omni.attempt': job.data.attempt,
            'messaging.message.id': job.id ?? '',
          },
        },
        async (span) => {
          try {
            return await options.process(job, token, runEnded(token));
          } catch (error) {
            span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
            throw error;
          } finally {
            // Whatever the processor did, its run is over once it returns: the ack needs no slot.
            runEnded(token)();
            span.end();
          }
        },
      ),
    );
  worker = new RunSlotWorker(
    {
      connection: options.connection,
      prefix: options.prefix,
      concurrency: options.concurrency,
      // A sandbox run can last minutes; the lock is renewed while it runs, so a stall means a dead worker.
      lockDuration: 30_000,
      maxStalledCount: 1,
    },
    traced,
  );
  return worker;
}
