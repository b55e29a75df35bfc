import { useState } from 'preact/hooks';
import { ApiError } from '../api.ts';
import { HistoryBadge } from '../components/history-badge.tsx';
import { JobFacts } from '../components/job-facts.tsx';
import { JobFiles } from '../components/job-files.tsx';
import { JobTimeline } from '../components/job-timeline.tsx';
import { LiveOutput, StoredOutput } from '../components/live-output.tsx';
import { StatusBadge } from '../components/status-badge.tsx';
import { failureInWords, formatTime } from '../format.ts';
import { href, Link } from '../router.tsx';
import { useSession } from '../session-context.ts';
import type { JobView } from '../types.ts';
import { usePolling } from '../use-polling.ts';

const isWaitingOrRunning = (status: string) => status === 'queued' || status === 'running';

/** One job: its header, the levers the token may pull, its output and its timeline. */
export function JobPage(props: { readonly id: string }) {
  const { api, can } = useSession();
  const path = `/v1/jobs/${encodeURIComponent(props.id)}`;
  const job = usePolling(`job ${props.id}`, (signal) => api.get<JobView>(path, signal));
  const [action, setAction] = useState<{ busy?: string; error?: string }>({});
  const act = async (name: 'cancel' | 'retry') => {
    setAction({ busy: name });
    try {
      await api.post(`${path}/${name}`, {});
      setAction({});
      job.refresh();
    } catch (error) {
      setAction({ error: error instanceof Error ? error.message : String(error) });
    }
  };
  if (job.error && !job.value) {
    const missing = job.error instanceof ApiError && job.error.status === 404;
    return (
      <p class="error" role="alert">
        {missing ? `No job ${props.id} in your tenant.` : job.error.message}
      </p>
    );
  }
  const view = job.value;
  if (!view) return <p class="notice">Loading job {props.id}…</p>;
  const live = isWaitingOrRunning(view.status);
  const canRetry = can('jobs:submit') && (view.status === 'failed' || view.status === 'cancelled' || view.status === 'expired');
  return (
    <section class="job" data-testid="job">
      <p>
        <Link to={href('/jobs')}>← jobs</Link>
      </p>
      <h1>
        Job <span class="mono">{view.id}</span> <StatusBadge status={view.status} />
      </h1>
      <p>
        <HistoryBadge id={view.id} status={view.status} attempt={view.attempt} />
      </p>
      <div class="actions">
        {can('jobs:cancel') && live && (
          <button type="button" data-testid="cancel" disabled={action.busy !== undefined} onClick={() => act('cancel')}>
            Cancel
          </button>
        )}
        {canRetry && (
          <button type="button" data-testid="retry" disabled={action.busy !== undefined} onClick={() => act('retry')}>
            Retry
          </button>
        )}
        {action.error && (
          <span class="error" role="alert">
            {action.error}
          </span>
        )}
      </div>
      {view.schedule && (
        <p data-testid="job-schedule">
          Submitted by schedule{' '}
          <Link to={href('/schedules')} class="mono">
            {view.schedule.id.slice(0, 8)}
          </Link>{' '}
          for its slot of {formatTime(view.schedule.slot)}
        </p>
      )}
      {view.failureReason && (
        <p class="failure" data-testid="failure">
          {failureInWords(view.failureReason, view.exitCode, view.timeoutMs)}
          {view.failureMessage && <span data-testid="failure-message"> {view.failureMessage}</span>}
        </p>
      )}
      <JobFacts view={view} />
      {live ? (
        <LiveOutput id={view.id} attempt={view.attempt} />
      ) : (
        <StoredOutput stdout={view.stdout} stderr={view.stderr} truncated={view.outputTruncated} />
      )}
      <JobFiles inputs={view.inputs ?? []} artifacts={view.artifacts ?? []} />
      {can('events:read') ? <JobTimeline id={view.id} /> : <p class="muted">The timeline needs the events:read scope.</p>}
    </section>
  );
}
