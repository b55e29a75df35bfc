import { useEffect, useRef, useState } from 'preact/hooks';
import { formatDuration, formatTime } from '../format.ts';
import { href, Link } from '../router.tsx';
import { useSession } from '../session-context.ts';
import type { JobEventsPage, LoggedEvent } from '../types.ts';

const pageSize = 200;

interface Group {
  readonly attempt: number;
  readonly events: readonly LoggedEvent[];
}

/** Events by attempt, in order: JobSubmitted opens attempt 1; an event naming an attempt joins it. */
function byAttempt(events: readonly LoggedEvent[]): Group[] {
  const groups: { attempt: number; events: LoggedEvent[] }[] = [];
  for (const event of events) {
    // A delivery's `attempt` counts deliveries, not the job's runs: it joins the run it followed.
    const named = event.type.startsWith('Webhook') ? undefined : event.data.attempt;
    const attempt = typeof named === 'number' ? named : (groups.at(-1)?.attempt ?? 1);
    const last = groups.at(-1);
    if (last && last.attempt === attempt) last.events.push(event);
    else groups.push({ attempt, events: [event] });
  }
  return groups;
}

/** How an attempt ended, from its events: what the group's heading says. */
function outcomeOf(group: Group): string {
  const types = group.events.map((event) => event.type);
  if (types.includes('JobAttemptAbandoned')) return 'abandoned';
  if (types.includes('JobSucceeded')) return 'succeeded';
  if (types.includes('JobFailed')) return 'failed';
  if (types.includes('JobCancelled')) return 'cancelled';
  if (types.includes('JobExpired')) return 'expired';
  if (types.includes('JobStarted')) return 'running';
  return 'waiting';
}

/** Why a webhook delivery failed, in words (the reason codes are for machines). */
function webhookFailureInWords(data: LoggedEvent['data']): string {
  const detail = typeof data.detail === 'string' ? ` (${data.detail.slice(0, 120)})` : '';
  switch (data.reason) {
    case 'http-status':
      return `the receiver answered HTTP ${String(data.status)}`;
    case 'timeout':
      return 'the receiver did not answer in time';
    case 'connection':
      return `the connection failed${detail}`;
    case 'dns':
      return `the host name did not resolve${detail}`;
    case 'forbidden-address':
      return 'the host resolves only to addresses deliveries may not reach';
    default:
      return `failed: ${String(data.reason)}${detail}`;
  }
}

/** One line of what an event says, as text. */
function summary(event: LoggedEvent): string {
  const data = event.data;
  switch (event.type) {
    case 'JobOutput':
      return `${String(data.stream)}: ${String(data.text).slice(0, 120)}`;
    case 'JobFailed':
      return `reason ${String(data.reason)}${data.exitCode === undefined ? '' : `, exit ${String(data.exitCode)}`}`;
    case 'JobSucceeded':
      return data.exitCode === undefined ? '' : `exit ${String(data.exitCode)}`;
    case 'JobRetryScheduled':
      return `reason ${String(data.reason)}, due ${formatTime(String(data.dueAt))}`;
    case 'JobAttemptAbandoned':
      return `reason ${String(data.reason)}, worker ${String(data.workerId)}`;
    case 'JobCancelled':
      return data.wasRunning ? 'while running' : 'while waiting';
    case 'JobStarted':
      return data.workerId === undefined ? '' : `on ${String(data.workerId)}`;
    case 'WebhookDelivered':
      return `${String(data.event)} delivered to ${String(data.url)}: HTTP ${String(data.status)} in ${formatDuration(Number(data.durationMs))} (delivery attempt ${String(data.attempt)})`;
    case 'WebhookFailed':
      return `${String(data.event)} not delivered to ${String(data.url)}: ${webhookFailureInWords(data)} (delivery attempt ${String(data.attempt)}, ${data.willRetry ? 'will retry' : 'given up'})`;
    default:
      return '';
  }
}

/**
 * A job's history a page at a time (a job with thousands of events never loads whole), grouped
 * per attempt; the newest page follows the log every second. A click shows an event's raw JSON.
 */
export function JobTimeline(props: { readonly id: string }) {
  const { api } = useSession();
  const [events, setEvents] = useState<readonly LoggedEvent[]>([]);
  const [more, setMore] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const [open, setOpen] = useState<string | undefined>(undefined);
  const [wanted, setWanted] = useState(pageSize);
  // What is loaded survives "more": the next page continues after the last event shown.
  const loadedRef = useRef<{ id: string; events: readonly LoggedEvent[] }>({ id: props.id, events: [] });

  useEffect(() => {
    loadedRef.current = { id: props.id, events: [] };
    setEvents([]);
    setOpen(undefined);
    setWanted(pageSize);
  }, [props.id]);

  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        // Pages (the events route's cursor) until `wanted` events are shown; past that the
        // operator asks for more. A page that comes back full means more may follow.
        while (!controller.signal.aborted && loadedRef.current.id === props.id) {
          const loaded = loadedRef.current.events;
          const room = wanted - loaded.length;
          if (room <= 0) {
            // Shown as many as asked for: is there anything after them?
            const peek = await api.get<JobEventsPage>(
              `/v1/jobs/${encodeURIComponent(props.id)}/events?after=${loaded.at(-1)?.streamVersion ?? 0}&limit=1`,
              controller.signal,
            );
            setMore(peek.events.length > 0);
            break;
          }
          const after = loaded.at(-1)?.streamVersion ?? 0;
          const page = await api.get<JobEventsPage>(
            `/v1/jobs/${encodeURIComponent(props.id)}/events?after=${after}&limit=${Math.min(room, 1000)}`,
            controller.signal,
          );
          if (controller.signal.aborted || loadedRef.current.id !== props.id) return;
          const next = [...loaded, ...page.events];
          loadedRef.current = { id: props.id, events: next };
          setEvents(next);
          setError(undefined);
          if (page.next === null) {
            setMore(false);
            break;
          }
        }
      } catch (caught) {
        if (!controller.signal.aborted) setError(caught instanceof Error ? caught.message : String(caught));
      }
      if (!controller.signal.aborted) timer = setTimeout(load, 1000);
    };
    void load();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, [api, props.id, wanted]);

  const groups = byAttempt(events);
  let previous: string | undefined;
  return (
    <section class="timeline" data-testid="timeline">
      <h2>
        Timeline <span class="muted" data-testid="timeline-count">{events.length} events shown{more ? ', more below' : ''}</span>
      </h2>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {groups.map((group, index) => (
        <div class="attempt" key={`${group.attempt}-${index}`} data-attempt={group.attempt}>
          <h3>
            Attempt {group.attempt} <span class={`outcome outcome-${outcomeOf(group)}`}>{outcomeOf(group)}</span>
          </h3>
          <table>
            <tbody>
              {group.events.map((event) => {
                const gap = previous === undefined ? null : Date.parse(event.recordedAt) - Date.parse(previous);
                previous = event.recordedAt;
                const isOpen = open === event.eventId;
                return [
                  <tr
                    key={event.eventId}
                    class={`event ${isOpen ? 'open' : ''}`}
                    data-event-type={event.type}
                    onClick={() => setOpen(isOpen ? undefined : event.eventId)}
                  >
                    <td class="mono">#{event.streamVersion}</td>
                    <td class="type">{event.type}</td>
                    <td>{formatTime(event.recordedAt)}</td>
                    <td class="muted">{gap === null ? '' : `+${formatDuration(gap)}`}</td>
                    <td>{String(event.metadata.actor ?? '—')}</td>
                    <td class="summary">{summary(event)}</td>
                    {/* Its own click: following the link must not also toggle the raw JSON. */}
                    <td class="as-of" onClick={(click) => click.stopPropagation()}>
                      <Link to={href(`/jobs/${encodeURIComponent(props.id)}/at/${event.position}`)}>as of this event</Link>
                    </td>
                  </tr>,
                  isOpen && (
                    <tr key={`${event.eventId}-raw`} class="raw">
                      <td colSpan={7}>
                        <pre data-testid="raw-event">{JSON.stringify(event, null, 2)}</pre>
                      </td>
                    </tr>
                  ),
                ];
              })}
            </tbody>
          </table>
        </div>
      ))}
      {more && (
        <button type="button" data-testid="more-events" onClick={() => setWanted((count) => count + pageSize)}>
          Show {pageSize} more events
        </button>
      )}
    </section>
  );
}
