import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../api.ts';
import { JobFacts } from '../components/job-facts.tsx';
import { JobFiles } from '../components/job-files.tsx';
import { StoredOutput } from '../components/live-output.tsx';
import { StatusBadge } from '../components/status-badge.tsx';
import { failureInWords, formatTime } from '../format.ts';
import { href, Link } from '../router.tsx';
import { useSession } from '../session-context.ts';
import type { JobAt, JobEventsPage, LoggedEvent } from '../types.ts';

type Loaded =
  | { readonly state: 'loading' }
  | { readonly state: 'failed'; readonly message: string }
  | { readonly state: 'loaded'; readonly at: JobAt; readonly event?: LoggedEvent };

/**
 * A job as it stood at one position of the log ("view as of this event", /console/jobs/<id>/at/<p>):
 * the state folded by GET /v1/jobs/:id/at/:position, and the event that made it (with events:read).
 * History does not change, so it is read once.
 */
export function JobAtPage(props: { readonly id: string; readonly position: string }) {
  const { api, can } = useSession();
  const [loaded, setLoaded] = useState<Loaded>({ state: 'loading' });
  const jobPath = `/v1/jobs/${encodeURIComponent(props.id)}`;
  useEffect(() => {
    const controller = new AbortController();
    setLoaded({ state: 'loading' });
    (async () => {
      const at = await api.get<JobAt>(`${jobPath}/at/${encodeURIComponent(props.position)}`, controller.signal);
      let event: LoggedEvent | undefined;
      if (can('events:read')) {
        const page = await api.get<JobEventsPage>(
          `${jobPath}/events?after=${at.streamVersion - 1}&limit=1`,
          controller.signal,
        );
        event = page.events[0];
      }
      if (!controller.signal.aborted) setLoaded({ state: 'loaded', at, ...(event ? { event } : {}) });
    })().catch((error: unknown) => {
      if (controller.signal.aborted) return;
      const message =
        error instanceof ApiError && error.status === 404
          ? `Job ${props.id} did not exist at log position ${props.position} (or is not in your tenant).`
          : error instanceof Error
            ? error.message
            : String(error);
      setLoaded({ state: 'failed', message });
    });
    return () => controller.abort();
  }, [api, can, jobPath, props.id, props.position]);

  const back = (
    <p>
      <Link to={href(`/jobs/${encodeURIComponent(props.id)}`)}>← the job now</Link>
    </p>
  );
  if (loaded.state === 'loading') return <p class="notice">Loading job {props.id} as of position {props.position}…</p>;
  if (loaded.state === 'failed')
    return (
      <section>
        {back}
        <p class="error" role="alert">
          {loaded.message}
        </p>
      </section>
    );
  const { at, event } = loaded;
  const view = at.job;
  const finished = view.status !== 'queued' && view.status !== 'running';
  return (
    <section class="job job-at" data-testid="job-at">
      {back}
      <h1>
        Job <span class="mono">{view.id}</span> as of position <span data-testid="at-position">{at.position}</span>{' '}
        <StatusBadge status={view.status} />
      </h1>
      <p class="muted" data-testid="at-version">
        The state folded from the stream's first {at.streamVersion} events
        {event && (
          <>
            , the last being #{event.streamVersion} <strong>{event.type}</strong> at {formatTime(event.recordedAt)}
          </>
        )}
        .
      </p>
      {view.failureReason && <p class="failure">{failureInWords(view.failureReason, view.exitCode, view.timeoutMs)}</p>}
      <JobFacts view={view} />
      {finished && <StoredOutput stdout={view.stdout} stderr={view.stderr} truncated={view.outputTruncated} />}
      <JobFiles inputs={view.inputs ?? []} artifacts={view.artifacts ?? []} />
      {event && <pre data-testid="at-event">{JSON.stringify(event, null, 2)}</pre>}
    </section>
  );
}
