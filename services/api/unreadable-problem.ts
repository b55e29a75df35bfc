import { UnreadableEventError } from '../../events/event-store-errors.ts';
import { JobHistoryUnreadableError } from '../../jobs/job-history-unreadable-error.ts';
import { ProblemError } from './problem.ts';

/**
 * The problems for events nobody can read: one the store refused to write (the request would have
 * recorded it: 422, nothing was written), and one already in a job's history (500, naming the
 * event, since only an operator can repair it). Undefined for any other error.
 */
export function unreadableEventProblem(error: unknown): ProblemError | undefined {
  if (error instanceof UnreadableEventError) {
    return new ProblemError({
      status: 422,
      code: error.code,
      title: 'The request would record an unreadable event',
      detail: `nothing was written: ${error.eventType}${error.pointer ? ` ${error.pointer}` : ''} ${error.reason}`,
    });
  }
  if (error instanceof JobHistoryUnreadableError) {
    return new ProblemError({
      status: 500,
      code: error.code,
      title: "The job's history holds an unreadable event",
      detail:
        `event ${error.eventType} ${error.eventId} at position ${error.globalPosition} (version ` +
        `${error.streamVersion}) of ${error.streamId} cannot be read; an operator must repair it`,
    });
  }
  return undefined;
}
