import type { RecordedEvent } from '../events/event-store.ts';
import type { JobState } from './job.state.ts';
import { recordsOf } from './record-list.ts';

export const jobLinks = (id: string) => ({
  self: `/v1/jobs/${id}`,
  events: `/v1/jobs/${id}/events`,
  output: `/v1/jobs/${id}/output`,
});

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
    peakMemoryBytes: outcome?.peakMemoryBytes ?? null,
    // Where the last attempt ran (null: not run yet, or recorded before this was).
    runtime: outcome?.runtime ?? null,
    sandboxPath: outcome?.sandboxPath ?? null,
    oom: outcome?.oom ?? null,
    // The image id (sha256:...) the current attempt actually ran, whatever its tag points at now.
    imageId: current?.imageId ?? null,
    exitCode: outcome?.exitCode ?? null,
    failureReason: state.status === 'failed' ? state.reason : null,
    failureMessage: state.status === 'failed' ? (state.message ?? null) : null,
    priority: state.spec.priority ?? 50,
    maxAttempts: state.spec.retry?.maxAttempts ?? 1,
    // A queued attempt's not-before (delayed job, retry backoff) and queue-wait deadline.
    runAt: state.status === 'queued' ? (state.dueAt?.toISOString() ?? null) : null,
    expiresAt: state.status === 'queued' ? (state.expiresAt?.toISOString() ?? null) : null,
    cancelledBy: state.status === 'cancelled' ? (state.cancelledBy ?? null) : null,
    cancelledAt: state.status === 'cancelled' ? state.cancelledAt.toISOString() : null,
    expiredAt: state.status === 'expired' ? state.expiredAt.toISOString() : null,
    stdout: outcome?.stdout ?? null,
    stderr: outcome?.stderr ?? null,
    outputTruncated: outcome?.outputTruncated ?? false,
    labels: state.spec.labels ?? {},
    // The schedule and slot that submitted it (null: a client did).
    schedule: state.spec.schedule ?? null,
    // Where the job's end is POSTed (null: nowhere); each attempt shows on its timeline.
    callback: state.spec.callback ? { url: state.spec.callback.url } : null,
    // Uploaded inputs by id and hash; declared outputs, what was kept of them and what was refused.
    inputs: (state.spec.inputs ?? []).map(({ file, path, sha256, size }) => ({ file, path, sha256, size })),
    outputs: state.spec.outputs ?? [],
    inputDirectories: state.spec.inputDirectories ?? [],
    workingDir: state.spec.workingDir ?? '/tmp',
    artifacts: recordsOf(state.artifacts).map((artifact) => ({
      ...artifact,
      links: { content: `/v1/files/${artifact.fileId}` },
    })),
    refusedOutputs: recordsOf(state.refusedOutputs),
    links: jobLinks(id),
  };
}

/** An event as the API shows it; the log's columns, camel-cased. */
export function toEventView(event: RecordedEvent) {
  return {
    position: event.globalPosition,
    streamId: event.streamId,
    streamVersion: event.streamVersion,
    eventId: event.eventId,
    type: event.type,
    schemaVersion: event.schemaVersion,
    data: event.data,
    metadata: event.metadata,
    recordedAt: event.recordedAt.toISOString(),
  };
}
