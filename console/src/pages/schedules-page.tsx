import { useState } from 'preact/hooks';
import { formatCommand, formatDuration, formatTime } from '../format.ts';
import { href, Link } from '../router.tsx';
import { useSession } from '../session-context.ts';
import type { ScheduleList, ScheduleView } from '../types.ts';
import { usePolling } from '../use-polling.ts';

const intervalUnits = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['min', 60_000],
  ['s', 1000],
] as const;

/** When a schedule fires, as a person reads it: its cron in its zone, or its interval (every 5 min). */
function timingOf(schedule: ScheduleView): string {
  if (schedule.cron !== null) return `${schedule.cron} (${schedule.timeZone ?? 'UTC'})`;
  const ms = schedule.intervalMs ?? 0;
  const unit = intervalUnits.find(([, size]) => ms % size === 0);
  return `every ${unit ? `${ms / unit[1]} ${unit[0]}` : formatDuration(ms)}`;
}

/**
 * The tenant's schedules (GET /v1/schedules, newest first, a page at a time), refreshed every
 * two seconds: status, next slot, the job it fired last; pause and resume for a token that may submit.
 */
export function SchedulesPage(props: { readonly query: URLSearchParams }) {
  const { api, can } = useSession();
  const after = props.query.get('after');
  const listQuery = new URLSearchParams({ limit: '50', ...(after ? { after } : {}) });
  const list = usePolling(
    `schedules?${listQuery}`,
    (signal) => api.get<ScheduleList>(`/v1/schedules?${listQuery}`, signal),
    2000,
  );
  const [action, setAction] = useState<{ busy?: string; error?: string }>({});
  const setPaused = async (schedule: ScheduleView, paused: boolean) => {
    setAction({ busy: schedule.id });
    try {
      await api.patch(`/v1/schedules/${encodeURIComponent(schedule.id)}`, { paused });
      setAction({});
      list.refresh();
    } catch (error) {
      setAction({ error: error instanceof Error ? error.message : String(error) });
    }
  };
  const mayChange = can('jobs:submit');
  return (
    <section>
      <h1>Schedules</h1>
      {list.error && (
        <p class="error" role="alert">
          {list.error.message}
        </p>
      )}
      {action.error && (
        <p class="error" role="alert">
          {action.error}
        </p>
      )}
      <table class="schedules" data-testid="schedules-table">
        <thead>
          <tr>
            <th>schedule</th>
            <th>status</th>
            <th>timing</th>
            <th>job</th>
            <th>next slot</th>
            <th>last fired</th>
            <th>fired</th>
            {mayChange && <th />}
          </tr>
        </thead>
        <tbody>
          {(list.value?.schedules ?? []).map((schedule) => (
            <tr key={schedule.id} data-schedule-id={schedule.id}>
              <td>
                {schedule.name ?? <span class="muted">unnamed</span>} <span class="mono muted">{schedule.id.slice(0, 8)}</span>
              </td>
              <td>
                <span class={`status status-${schedule.status}`} data-testid="schedule-status">
                  {schedule.status}
                </span>
              </td>
              <td class="mono">{timingOf(schedule)}</td>
              <td class="mono command">
                {schedule.job.image} {formatCommand(schedule.job.command)}
              </td>
              <td data-testid="next-slot">{formatTime(schedule.nextSlotAt)}</td>
              <td>
                {schedule.lastFired ? (
                  <>
                    <Link to={href(`/jobs/${encodeURIComponent(schedule.lastFired.jobId)}`)} class="mono">
                      {schedule.lastFired.jobId.slice(0, 8)}
                    </Link>{' '}
                    <span class="muted">slot {formatTime(schedule.lastFired.slot)}</span>
                  </>
                ) : (
                  '—'
                )}
              </td>
              <td>
                {schedule.firedCount}
                {schedule.skippedCount > 0 && <span class="muted"> ({schedule.skippedCount} skipped)</span>}
              </td>
              {mayChange && (
                <td>
                  <button
                    type="button"
                    data-testid={schedule.status === 'paused' ? 'resume' : 'pause'}
                    disabled={action.busy !== undefined}
                    onClick={() => setPaused(schedule, schedule.status !== 'paused')}
                  >
                    {schedule.status === 'paused' ? 'Resume' : 'Pause'}
                  </button>
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {list.value && list.value.schedules.length === 0 && <p class="muted">No schedules.</p>}
      <nav class="pages">
        {after && <Link to={href('/schedules')}>⇤ newest</Link>}
        {list.value?.next && <Link to={href('/schedules', { after: list.value.next })}>older →</Link>}
      </nav>
    </section>
  );
}
