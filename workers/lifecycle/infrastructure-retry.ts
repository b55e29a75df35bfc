import type { Logger } from 'pino';
import type { EventMetadata, EventStore, RecordedEvent } from '../../events/event-store.ts';
import { ConcurrencyError } from '../../events/event-store-errors.ts';
import { JobDomainError } from '../../jobs/job-domain-error.ts';
import { executeJobCommand } from '../../jobs/job-stream.ts';
import type { SandboxError } from '../sandbox/sandbox.ts';
import type { OutageGate } from './outage-gate.ts';

/** How long a message waits while our infrastructure is down: 1-2 s, spread so a burst does not return at once. */
export const infrastructureRetryDelayMs = (random: number): number => 1_000 + Math.round(1_000 * random);

/**
 * An engine fault met by one attempt: the gate closes (and logs the outage once, naming the
 * engine and what to do); the attempt's own line says what became of it. Without a gate each
 * fault is logged in full.
 */
export function reportEngineFault(
  gate: OutageGate | undefined,
  log: Logger,
  error: SandboxError,
  outcome: string,
): void {
  if (gate) {
    gate.report('docker', error);
    // The gate's line is the alert; this one says what became of the attempt, in the same words.
    log.info({ code: error.code }, `Docker engine fault ${outcome}: ${error.message}`);
  } else {
    log.error({ code: error.code, err: error }, `${error.message} (${outcome})`);
  }
}

/**
 * How often the engine may end one attempt at no cost. An engine that answers pings but keeps
 * failing one job's runs (or kills too slowly to confirm) would otherwise rerun it forever; past
 * this the fault is recorded as the attempt's sandbox-error, and the retry policy decides.
 */
const maxFreeInterruptions = 5;

/** Whether the attempt may still be interrupted for free, from the job's history. */
export function freeInterruptionsLeft(history: readonly RecordedEvent[], attempt: number): boolean {
  const interruptions = history.filter((event) => {
    const data = event.data as { attempt?: unknown; reason?: unknown };
    return event.type === 'JobRetryScheduled' && data.reason === 'infrastructure' && data.attempt === attempt;
  }).length;
  return interruptions < maxFreeInterruptions;
}

export interface InterruptedAttempt {
  readonly store: EventStore;
  readonly jobId: string;
  readonly attempt: number;
  readonly workerId: string;
  readonly metadata: EventMetadata;
  readonly cause: SandboxError;
  readonly now: Date;
  readonly random: number;
}

/**
 * Records that the engine failed a started attempt: the same attempt is queued again
 * (JobRetryScheduled, reason infrastructure) at no cost to the job's retries. Returns when it is
 * due, or undefined when the attempt had already ended elsewhere (cancelled, abandoned).
 */
export async function recordInterruptedAttempt(interrupted: InterruptedAttempt): Promise<Date | undefined> {
  const { jobId, attempt, workerId, cause, now, random } = interrupted;
  try {
    const { events } = await executeJobCommand(
      interrupted.store,
      jobId,
      { type: 'InterruptAttempt', attempt, workerId, cause: cause.message, now, random },
      interrupted.metadata,
    );
    const retry = events.find((event) => event.type === 'JobRetryScheduled');
    return retry ? new Date(retry.data.dueAt) : undefined;
  } catch (error) {
    if (error instanceof ConcurrencyError || error instanceof JobDomainError) return undefined;
    throw error;
  }
}
