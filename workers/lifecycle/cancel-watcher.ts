import pg from 'pg';
import { isDatabaseUnavailable } from '../../events/database-errors.ts';
import type { EventStore } from '../../events/event-store.ts';
import { jobStreamPrefix, loadJob } from '../../jobs/job-stream.ts';
import type { AttemptControl } from './attempt-control.ts';

export interface CancelWatcherOptions {
  readonly store: EventStore;
  /** A direct connection for LISTEN (not through a transaction-pooling proxy). */
  readonly connectionString: string;
  readonly control: AttemptControl;
  /** Fallback poll of the running jobs, for notifications lost with a dropped connection. */
  readonly pollIntervalMs?: number;
  readonly onError?: (error: unknown) => void;
}

/**
 * Kills the containers of jobs cancelled while they run here. Every append NOTIFYs `omni_events`
 * with the stream id, so a cancellation reaches the worker in milliseconds; a slow poll covers a
 * lost connection.
 */
export async function startCancelWatcher(options: CancelWatcherOptions): Promise<{ stop(): Promise<void> }> {
  const { control, store } = options;
  // While Postgres is down every poll of every running job fails the same way: one report per
  // few seconds says as much.
  let unavailableReportedAt = Number.NEGATIVE_INFINITY;
  const report = (error: unknown) => {
    if (isDatabaseUnavailable(error)) {
      if (Date.now() - unavailableReportedAt < 5_000) return;
      unavailableReportedAt = Date.now();
    }
    options.onError?.(error);
  };
  const check = async (jobId: string) => {
    try {
      const { state } = await loadJob(store, jobId);
      if (state.status === 'cancelled') control.stop(jobId, 'cancelled');
    } catch (error) {
      report(error);
    }
  };
  let client: pg.Client | undefined;
  let stopped = false;
  const connect = async () => {
    const next = new pg.Client({
      connectionString: options.connectionString,
      application_name: 'omni-cancel-watcher',
    });
    next.on('notification', (message) => {
      const streamId = message.payload ?? '';
      if (!streamId.startsWith(jobStreamPrefix)) return;
      const jobId = streamId.slice(jobStreamPrefix.length);
      if (control.runningJobIds().includes(jobId)) void check(jobId);
    });
    next.on('error', (error) => {
      report(error);
      if (client === next) client = undefined;
    });
    await next.connect();
    await next.query('listen omni_events');
    client = next;
  };
  await connect();
  const timer = setInterval(() => {
    if (!client && !stopped) connect().catch(report);
    for (const jobId of control.runningJobIds()) void check(jobId);
  }, options.pollIntervalMs ?? 2_000);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await client?.end().catch(() => undefined);
    },
  };
}
