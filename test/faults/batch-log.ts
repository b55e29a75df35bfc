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
    /** Where a recorded result ran: `warm` (a container started ahead) or `cold`. */
    readonly sandboxPath?: string;
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

/**
 * Attempts running now, from the log: job streams whose last event is their start or its output.
 * (With a warm pool, running containers say nothing: the pool's waiting ones run too.)
 */
export async function runningAttempts(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      `select count(*)::int as n from streams s
         join events e on e.stream_id = s.stream_id and e.stream_version = s.version
        where starts_with(s.stream_id, 'job-') and e.type in ('JobStarted', 'JobOutput')`,
    );
    return rows[0]?.n ?? 0;
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
  /** A run started while its attempt was running or done, or ended twice (see examineBatch). */
  readonly doubled: readonly string[];
  /**
   * Attempts spent on the fault: an attempt that ended in JobFailed (the jobs here only fail if the
   * infrastructure did) or JobAttemptAbandoned, and after which the job did not run again. Jobs are
   * submitted with maxAttempts 1, so a retry after such an attempt proves it was not counted.
   */
  readonly consumed: readonly string[];
  /** Runs the product gave again at no cost: infrastructure interruptions, and attempts past the first. */
  readonly freeRetries: number;
  /** Runs that did not end in success, by type/reason (whether run again or not). */
  readonly interrupted: Record<string, number>;
  /** Fault end → first success of an attempt started after it; undefined when none. */
  readonly recoveryMs: number | undefined;
  /** Submitted → terminal of the slowest finished job: the longest a client waited for a result. */
  readonly slowestMs: number;
  /** Recorded results by the path they ran on (`warm`, `cold`, `none` for a result without a run). */
  readonly paths: Record<string, number>;
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
  let slowestMs = 0;
  const paths: Record<string, number> = {};
  for (const [id, events] of byJob) {
    const last = events.at(-1);
    // Walk the stream as runs: a JobStarted opens a run of its attempt, one ending closes it. The
    // same attempt may run again only after an infrastructure interruption closed its run
    // (JobRetryScheduled reason `infrastructure`, same attempt number: the engine failed it, no
    // attempt spent); any other second start, or a second ending, is a double.
    const open = new Map<number, LoggedEvent>();
    const finished = new Set<number>();
    let lastAttempt = 0;
    let finalEnd: LoggedEvent | undefined;
    for (const event of events) {
      const attempt = event.data.attempt ?? 0;
      const label = `${event.type}${event.data.reason ? `/${event.data.reason}` : ''}`;
      if (event.type === 'JobStarted') {
        if (open.has(attempt)) doubled.push(`${id}#${attempt} started again while running`);
        if (finished.has(attempt)) doubled.push(`${id}#${attempt} started again after it ended`);
        open.set(attempt, event);
        lastAttempt = Math.max(lastAttempt, attempt);
      } else if (event.type === 'JobRetryScheduled' && event.data.reason === 'infrastructure') {
        if (!open.delete(attempt)) doubled.push(`${id}#${attempt} interrupted while not running`);
        interrupted[label] = (interrupted[label] ?? 0) + 1;
        freeRetries += 1;
      } else if (attemptEnds.has(event.type) || (event.type === 'JobCancelled' && event.data.wasRunning)) {
        const start = open.get(attempt);
        if (!start) doubled.push(`${id}#${attempt} ${label} without a run of its own`);
        open.delete(attempt);
        finished.add(attempt);
        finalEnd = event;
        if (event.type === 'JobSucceeded' || event.type === 'JobFailed') {
          const path = event.data.sandboxPath ?? 'none';
          paths[path] = (paths[path] ?? 0) + 1;
        }
        if (event.type === 'JobSucceeded') {
          if (start && start.recordedAt >= faultEndedAt) {
            const ms = event.recordedAt - faultEndedAt;
            if (recoveryMs === undefined || ms < recoveryMs) recoveryMs = ms;
          }
        } else {
          interrupted[label] = (interrupted[label] ?? 0) + 1;
        }
      }
    }
    // Jobs run with maxAttempts 1: a later attempt ran only if the product gave it for free.
    freeRetries += Math.max(0, lastAttempt - 1);
    if (finalEnd && finalEnd.type !== 'JobSucceeded' && (finalEnd.data.attempt ?? 0) >= lastAttempt) {
      const label = `${finalEnd.type}${finalEnd.data.reason ? `/${finalEnd.data.reason}` : ''}`;
      consumed.push(
        `${id}#${finalEnd.data.attempt} ${label}${finalEnd.data.message ? `: ${finalEnd.data.message.slice(0, 200)}` : ''}`,
      );
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
    else slowestMs = Math.max(slowestMs, (last?.recordedAt ?? 0) - (events[0]?.recordedAt ?? 0));
  }
  return { outcomes, notTerminal, doubled, consumed, freeRetries, interrupted, recoveryMs, slowestMs, paths };
}
