import type { AppendListener } from '../events/append-listener.ts';
import type { EventStore, RecordedEvent } from '../events/event-store.ts';
import { tailStream } from '../events/tail.ts';
import { jobDecider } from './job.decider.ts';
import { isTerminal, type JobState } from './job.state.ts';
import { jobStreamId, toJobEvent } from './job-stream.ts';

export interface JobHistoryFeedDeps {
  readonly store: EventStore;
  readonly appendListener?: AppendListener;
  /** Told of an event the feed could not fold (it is still sent on, as stored). */
  readonly onUnreadable?: (event: RecordedEvent, error: unknown) => void;
}

export interface JobHistoryFeed {
  /** The job's events after `afterVersion`, history then live, ending once the job has finished. */
  readonly events: AsyncIterable<RecordedEvent>;
  /** The state folded from every event read so far. */
  state(): JobState;
}

/**
 * Follows one job. The state is folded alongside, so "finished" means what the job view says,
 * whatever events led there (a failure with a retry scheduled is not finished).
 */
export function followJobHistory(
  deps: JobHistoryFeedDeps,
  id: string,
  afterVersion: number,
  signal: AbortSignal,
): JobHistoryFeed {
  let state = jobDecider.initialState();
  const source = tailStream({
    store: deps.store,
    ...(deps.appendListener ? { appendListener: deps.appendListener } : {}),
    signal,
    streamId: jobStreamId(id),
    afterVersion: 0,
    isDone: () => isTerminal(state),
  });
  return {
    state: () => state,
    events: (async function* () {
      for await (const event of source) {
        // An unreadable event (written by hand) is passed on as stored but not folded: the feed
        // keeps going instead of ending the client's stream with an error.
        try {
          state = jobDecider.evolve(state, toJobEvent(event));
        } catch (error) {
          deps.onUnreadable?.(event, error);
        }
        if (event.streamVersion > afterVersion) yield event;
      }
    })(),
  };
}
