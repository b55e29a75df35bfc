import { between, formatBytes, formatCommand, formatDuration, formatTime } from '../format.ts';
import type { JobView } from '../types.ts';
import { LabelList } from './status-badge.tsx';

/** What a job is and how it went, as the page header's list of facts (every value shown as text). */
export function JobFacts(props: { readonly view: JobView }) {
  const { view } = props;
  return (
    <dl class="facts">
      <dt>attempt</dt>
      <dd data-testid="attempt">
        {view.attempt} of {view.maxAttempts}
      </dd>
      <dt>command</dt>
      <dd class="mono">{formatCommand(view.command)}</dd>
      <dt>image</dt>
      <dd class="mono">
        {view.image}
        {view.imageId && <span class="muted"> {view.imageId}</span>}
      </dd>
      <dt>labels</dt>
      <dd>
        <LabelList labels={view.labels} />
      </dd>
      <dt>limits</dt>
      <dd>
        memory {formatBytes(view.limits?.memoryBytes)}, cpus {view.limits?.cpus ?? '—'}, pids {view.limits?.pids ?? '—'},
        timeout {formatDuration(view.timeoutMs)}
      </dd>
      <dt>submitted</dt>
      <dd>
        {formatTime(view.submittedAt)} by {view.submittedBy ?? '—'}
      </dd>
      <dt>started</dt>
      <dd>
        {formatTime(view.startedAt)}{' '}
        <span class="muted">(waited {formatDuration(between(view.submittedAt, view.startedAt))})</span>
      </dd>
      <dt>finished</dt>
      <dd>
        {formatTime(view.finishedAt)} <span class="muted">(ran {formatDuration(view.durationMs)})</span>
      </dd>
      <dt>exit code</dt>
      <dd data-testid="exit-code">{view.exitCode ?? '—'}</dd>
      {view.runtime && (
        <>
          <dt>sandbox</dt>
          <dd data-testid="sandbox">
            {view.runtime}, {view.sandboxPath ?? 'cold'} path{view.oom ? ', killed by the OOM killer' : ''}
          </dd>
        </>
      )}
      {(view.inputDirectories?.length ?? 0) > 0 || (view.workingDir && view.workingDir !== '/tmp') ? (
        <>
          <dt>directories</dt>
          <dd class="mono" data-testid="directories">
            started in {view.workingDir ?? '/tmp'}
            {(view.inputDirectories?.length ?? 0) > 0 && `; inputs in ${view.inputDirectories?.join(', ')}`}
          </dd>
        </>
      ) : null}
      {view.cancelledBy && (
        <>
          <dt>cancelled by</dt>
          <dd>{view.cancelledBy}</dd>
        </>
      )}
    </dl>
  );
}
