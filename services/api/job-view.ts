import type { RecordedEvent } from '../../events/event-store.ts';
import type { JobState } from '../../events/job/job.state.ts';

export const jobLinks = (id: string) => ({ self: `/v1/jobs/${id}`, events: `/v1/jobs/${id}/events` });

/** The job as a client sees it: the state folded from its events, flattened. */
export function toJobView(id: string, state: Exclude<JobState, { status: 'initial' }>) {
  const current = 'current' in state ? state.current : undefined;
  const outcome = 'outcome' in state ? state.outcome : undefined;
  return {
    id,
    status: state.status,
    attempt: state.attempt,
    image: state.spec.image,
    command: state.spec.command,
    limits: state.spec.limits,
    timeoutMs: state.spec.timeoutMs,
    submittedBy: state.submittedBy ?? null,
    submittedAt: state.submittedAt.toISOString(),
    startedAt: current?.startedAt.toISOString() ?? null,
    finishedAt: outcome?.finishedAt.toISOString() ?? null,
    durationMs: outcome?.durationMs ?? null,
    exitCode: outcome?.exitCode ?? null,
    failureReason: state.status === 'failed' ? state.reason : null,
    stdout: outcome?.stdout ?? null,
    stderr: outcome?.stderr ?? null,
    outputTruncated: outcome?.outputTruncated ?? false,
    links: jobLinks(id),
  };
}

/** An event as the API shows it; the log's columns, camel-cased. */
export function toEventView(event: RecordedEvent) {
  return {
    position: event.globalPosition,
    streamVersion: event.streamVersion,
    eventId: event.eventId,
    type: event.type,
    schemaVersion: event.schemaVersion,
    data: event.data,
    metadata: event.metadata,
    recordedAt: event.recordedAt.toISOString(),
  };
}
