import type { EventMetadata, EventStore, NewEvent, RecordedEvent } from '../events/event-store.ts';
import { type JobEvent, type JobEventType, jobEventSchemas } from '../schemas/job-events.schema.ts';
import { type JobCommand, jobDecider } from './job.decider.ts';
import { foldJob, type JobEventEnvelope } from './job.evolve.ts';
import type { JobState } from './job.state.ts';
import { JobHistoryUnreadableError } from './job-history-unreadable-error.ts';

export const jobStreamPrefix = 'job-';

/** The stream holding one job's history. */
export const jobStreamId = (jobId: string): string => `${jobStreamPrefix}${jobId}`;

export const isJobEventType = (type: string): type is JobEventType => Object.hasOwn(jobEventSchemas, type);

/** Parses a stored event into the domain's shape; storage is a trust boundary. */
export function toJobEvent(recorded: RecordedEvent): JobEventEnvelope {
  if (!isJobEventType(recorded.type))
    throw new Error(`event ${recorded.eventId} has unknown type ${recorded.type}`);
  const schema = jobEventSchemas[recorded.type];
  const data = schema.data.parse(recorded.data);
  const { actor, tenant } = recorded.metadata;
  return {
    type: recorded.type,
    data,
    recordedAt: recorded.recordedAt,
    ...(typeof actor === 'string' ? { actor } : {}),
    ...(typeof tenant === 'string' ? { tenant } : {}),
  } as JobEventEnvelope;
}

export interface LoadedJob {
  readonly state: JobState;
  /** The stream's version: the expected version for the next append. */
  readonly version: number;
  readonly events: readonly RecordedEvent[];
}

/** A job whose stream does not exist yet: what reading a freshly generated id would return, without the read. */
export const newJob: LoadedJob = { state: jobDecider.initialState(), version: 0, events: [] };

/** Parses each event of a job's stream; one its schema refuses fails the whole with JobHistoryUnreadableError. */
export function toJobHistory(events: readonly RecordedEvent[]): JobEventEnvelope[] {
  return events.map((event) => {
    try {
      return toJobEvent(event);
    } catch (error) {
      throw new JobHistoryUnreadableError(event, error);
    }
  });
}

export async function loadJob(store: EventStore, jobId: string): Promise<LoadedJob> {
  const events = await store.readStream(jobStreamId(jobId));
  return {
    state: foldJob(jobDecider.initialState(), toJobHistory(events)),
    version: events.at(-1)?.streamVersion ?? 0,
    events,
  };
}

/** Decided events as the store takes them, each at its type's current schema version. */
export const toNewJobEvents = (events: readonly JobEvent[], metadata: EventMetadata): NewEvent[] =>
  events.map((event) => ({
    type: event.type,
    schemaVersion: jobEventSchemas[event.type].version,
    data: event.data,
    metadata,
  }));

/**
 * Loads the job, decides, and appends at the version it read. A concurrent writer surfaces as a
 * ConcurrencyError, never as a silent retry: the caller decides what a conflict means.
 */
export async function executeJobCommand(
  store: EventStore,
  jobId: string,
  command: JobCommand,
  metadata: EventMetadata,
  loaded?: LoadedJob,
): Promise<{ readonly events: readonly JobEvent[]; readonly version: number }> {
  const { state, version } = loaded ?? (await loadJob(store, jobId));
  const events = jobDecider.decide(command, state);
  // An idempotent command (cancelling a cancelled job) decides nothing: there is nothing to append.
  if (events.length === 0) return { events, version };
  const result = await store.append(jobStreamId(jobId), version, toNewJobEvents(events, metadata));
  return { events, version: result.nextExpectedVersion };
}
