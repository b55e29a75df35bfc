import { useEffect, useState } from 'preact/hooks';
import { formatTime } from '../format.ts';
import { href, Link, navigate } from '../router.tsx';
import { useSession } from '../session-context.ts';
import type { EventsPage as EventsPageBody, LoggedEvent } from '../types.ts';
import { TextFilter } from '../components/text-filter.tsx';

const jobStreamPrefix = 'job-';

/**
 * The global log (admin): a page from a cursor, filtered by type and stream prefix; with
 * `follow=1` new events are appended as they commit (the watch route, over fetch).
 */
export function EventsPage(props: { readonly query: URLSearchParams }) {
  const { api } = useSession();
  const type = props.query.get('type') ?? '';
  const stream = props.query.get('stream') ?? '';
  const after = props.query.get('after') ?? '';
  const follow = props.query.get('follow') === '1';
  const [events, setEvents] = useState<readonly LoggedEvent[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | undefined>(undefined);
  const [open, setOpen] = useState<string | undefined>(undefined);
  const filter = new URLSearchParams();
  if (type) filter.set('type', type);
  if (stream) filter.set('stream', stream);
  const key = `${filter}|${after}|${follow}`;

  useEffect(() => {
    const controller = new AbortController();
    setEvents([]);
    setError(undefined);
    const page = new URLSearchParams(filter);
    if (after) page.set('after', after);
    page.set('limit', '100');
    const run = async () => {
      const body = await api.get<EventsPageBody>(`/v1/events?${page}`, controller.signal);
      let shown = [...body.events];
      setEvents(shown);
      setNext(body.next);
      if (!follow) return;
      const watch = new URLSearchParams(filter);
      if (body.next) watch.set('after', body.next);
      await api.follow(`/v1/events/watch?${watch}`, controller.signal, (message) => {
        if (message.event === 'end') return;
        shown = [...shown, JSON.parse(message.data) as LoggedEvent].slice(-1000);
        setEvents(shown);
      });
    };
    run().catch((caught: unknown) => {
      if (!controller.signal.aborted) setError(caught instanceof Error ? caught.message : String(caught));
    });
    return () => controller.abort();
  }, [api, key]);

  const [typeInput, setTypeInput] = useState(type);
  const [streamInput, setStreamInput] = useState(stream);
  const withQuery = (changes: Record<string, string | undefined>) => {
    const query = new URLSearchParams(props.query);
    for (const [name, value] of Object.entries(changes)) {
      if (value) query.set(name, value);
      else query.delete(name);
    }
    return href('/events', query);
  };
  return (
    <section>
      <h1>Event log</h1>
      <form
        class="filters"
        onSubmit={(event) => {
          event.preventDefault();
          navigate(withQuery({ type: typeInput.trim(), stream: streamInput.trim(), after: undefined }));
        }}
      >
        <TextFilter label="types" name="type" placeholder="JobFailed,JobCancelled" value={typeInput} onInput={setTypeInput} />
        <TextFilter label="stream" name="stream" placeholder="job-…" value={streamInput} onInput={setStreamInput} />
        <button type="submit">Filter</button>
        <label class="toggle">
          <input
            type="checkbox"
            name="follow"
            checked={follow}
            onChange={(event) => navigate(withQuery({ follow: event.currentTarget.checked ? '1' : undefined }))}
          />
          follow
        </label>
      </form>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <table class="events" data-testid="events-table">
        <thead>
          <tr>
            <th>position</th>
            <th>type</th>
            <th>stream</th>
            <th>recorded</th>
            <th>actor</th>
          </tr>
        </thead>
        <tbody>
          {events.map((event) => {
            const isOpen = open === event.eventId;
            return [
              <tr key={event.eventId} data-event-type={event.type} onClick={() => setOpen(isOpen ? undefined : event.eventId)}>
                <td class="mono">{String(event.position)}</td>
                <td class="type">{event.type}</td>
                <td class="mono">
                  {event.streamId.startsWith(jobStreamPrefix) ? (
                    <Link to={href(`/jobs/${event.streamId.slice(jobStreamPrefix.length)}`)}>{event.streamId}</Link>
                  ) : (
                    event.streamId
                  )}
                  <span class="muted"> v{event.streamVersion}</span>
                </td>
                <td>{formatTime(event.recordedAt)}</td>
                <td>{String(event.metadata.actor ?? '—')}</td>
              </tr>,
              isOpen && (
                <tr key={`${event.eventId}-raw`} class="raw">
                  <td colSpan={5}>
                    <pre>{JSON.stringify(event, null, 2)}</pre>
                  </td>
                </tr>
              ),
            ];
          })}
        </tbody>
      </table>
      {!follow && next && next !== after && (
        <nav class="pages">
          <Link to={withQuery({ after: next })}>later events →</Link>
        </nav>
      )}
    </section>
  );
}
