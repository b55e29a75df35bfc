import pg from 'pg';

/** One event of a job's stream as the log holds it. */
export interface LoggedEvent {
  readonly streamId: string;
  readonly version: number;
  readonly type: string;
  readonly data: {
    readonly attempt?: number;
    readonly reason?: string;
    readonly wasRunning?: boolean;
    readonly message?: string;
  };
  readonly recordedAt: number;
}

/** Event types after which, as a stream's last event, the job moves no more. */
const terminalTypes = new Set([
  'JobSucceeded',
  'JobFailed',
  'JobCancelled',
  'JobExpired',
  'JobAttemptAbandoned',
]);
const attemptEnds = new Set(['JobSucceeded', 'JobFailed', 'JobAttemptAbandoned', 'JobExpired']);

/** Every event of the given jobs' streams, by job id, in stream order (a fresh connection each call). */
export async function readJobEvents(
  url: string,
  jobIds: readonly string[],
): Promise<Map<string, LoggedEvent[]>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{
      stream_id: string;
      stream_version: number;
      type: string;
      data: LoggedEvent['data'];
      recorded_at: Date;
    }>(
      `select stream_id, stream_version, type, data - 'stdout' - 'stderr' as data, recorded_at
         from events where stream_id = any($1::text[]) order by stream_id, stream_version`,
      [jobIds.map((id) => `job-${id}`)],
    );
    const byJob = new Map<string, LoggedEvent[]>(jobIds.map((id) => [id, []]));
    for (const row of rows) {
      byJob.get(row.stream_id.slice('job-'.length))?.push({
        streamId: row.stream_id,
        version: row.stream_version,
        type: row.type,
        data: row.data,
        recordedAt: row.recorded_at.getTime(),
      });
    }
    return byJob;
  } finally {
    await client.end();
  }
}

export const isTerminalStream = (events: readonly LoggedEvent[]): boolean =>
  terminalTypes.has(events.at(-1)?.type ?? '');

/** What a batch's log shows, each list naming the jobs (and attempts) it is about. */
export interface BatchFindings {
  /** Final state per job: `succeeded`, `failed/<reason>`, `running`, `queued`, ... */
  readonly outcomes: Record<string, number>;
  readonly notTerminal: readonly string[];
  /** (job, attempt) with two JobStarted, or two results. */
  readonly doubled: readonly string[];
  /**
   * Attempts spent on the fault: an attempt that ended in JobFailed (the jobs here only fail if the
   * infrastructure did) or JobAttemptAbandoned, and after which the job did not run again. Jobs are
   * submitted with maxAttempts 1, so a retry after such an attempt proves it was not counted.
   */
  readonly consumed: readonly string[];
  /** Attempts after the first that ran: retries the product gave for free. */
  readonly freeRetries: number;
  /** Attempt endings that were not successes, by type/reason (whether retried or not). */
  readonly interrupted: Record<string, number>;
  /** Fault end → first success of an attempt started after it; undefined when none. */
  readonly recoveryMs: number | undefined;
}

/** Reads the batch's story from its jobs' events. */
export function examineBatch(
  byJob: ReadonlyMap<string, readonly LoggedEvent[]>,
  faultEndedAt: number,
): BatchFindings {
  const outcomes: Record<string, number> = {};
  const interrupted: Record<string, number> = {};
  const notTerminal: string[] = [];
  const doubled: string[] = [];
  const consumed: string[] = [];
  let freeRetries = 0;
  let recoveryMs: number | undefined;
  for (const [id, events] of byJob) {
    const last = events.at(-1);
    const started = new Map<number, LoggedEvent[]>();
    const ended = new Map<number, LoggedEvent[]>();
    for (const event of events) {
      const attempt = event.data.attempt ?? 0;
      if (event.type === 'JobStarted') started.set(attempt, [...(started.get(attempt) ?? []), event]);
      if (attemptEnds.has(event.type) || (event.type === 'JobCancelled' && event.data.wasRunning))
        ended.set(attempt, [...(ended.get(attempt) ?? []), event]);
    }
    for (const [attempt, list] of started)
      if (list.length > 1) doubled.push(`${id}#${attempt} started ${list.length}×`);
    for (const [attempt, list] of ended)
      if (list.length > 1) doubled.push(`${id}#${attempt} ended ${list.length}×`);
    const lastAttempt = Math.max(0, ...started.keys());
    freeRetries += Math.max(0, started.size - 1);
    for (const [attempt, list] of ended) {
      const end = list[0];
      if (!end || end.type === 'JobSucceeded') continue;
      const label = `${end.type}${end.data.reason ? `/${end.data.reason}` : ''}`;
      interrupted[label] = (interrupted[label] ?? 0) + 1;
      if (attempt >= lastAttempt)
        consumed.push(
          `${id}#${attempt} ${label}${end.data.message ? `: ${end.data.message.slice(0, 200)}` : ''}`,
        );
    }
    for (const [attempt, list] of ended) {
      const success = list.find((event) => event.type === 'JobSucceeded');
      const start = started.get(attempt)?.[0];
      if (success && start && start.recordedAt >= faultEndedAt) {
        const ms = success.recordedAt - faultEndedAt;
        if (recoveryMs === undefined || ms < recoveryMs) recoveryMs = ms;
      }
    }
    const outcome = !last
      ? 'missing'
      : !isTerminalStream(events)
        ? last.type === 'JobStarted' || last.type === 'JobOutput'
          ? 'running'
          : `not-terminal/${last.type}`
        : last.type === 'JobSucceeded'
          ? 'succeeded'
          : `${last.type}${last.data.reason ? `/${last.data.reason}` : ''}`;
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    if (!isTerminalStream(events)) notTerminal.push(`${id} ${outcome}`);
  }
  return { outcomes, notTerminal, doubled, consumed, freeRetries, interrupted, recoveryMs };
}
