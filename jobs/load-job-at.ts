import type { EventStore } from '../events/event-store.ts';
import { jobDecider } from './job.decider.ts';
import { foldJob } from './job.evolve.ts';
import { jobStreamId, type LoadedJob, toJobHistory } from './job-stream.ts';

/**
 * The job as it stood at global position `position` ("state as of P"): its history folded up to
 * and including that position. Within one stream positions grow with versions (appends to a stream
 * serialise on its row), so a position cut is a version cut.
 */
export async function loadJobAt(store: EventStore, jobId: string, position: number): Promise<LoadedJob> {
  const events = (await store.readStream(jobStreamId(jobId))).filter(
    (event) => event.globalPosition <= position,
  );
  return {
    state: foldJob(jobDecider.initialState(), toJobHistory(events)),
    version: events.at(-1)?.streamVersion ?? 0,
    events,
  };
}
