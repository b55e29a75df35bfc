import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { type Kysely, sql } from 'kysely';
import type { Logger } from 'pino';
import { isDatabaseUnavailable } from '../../events/database-errors.ts';
import type { EventStore } from '../../events/event-store.ts';
import { ConcurrencyError } from '../../events/event-store-errors.ts';
import type { Database } from '../../events/tables.ts';
import {
  createUnreadableEventLog,
  type UnreadableEvent,
  type UnreadableEventLog,
} from '../../events/unreadable-events.ts';
import { createWakeableSleep } from '../../events/wakeable-sleep.ts';
import type { JobCommand } from '../../jobs/job.decider.ts';
import { JobDomainError } from '../../jobs/job-domain-error.ts';
import { JobHistoryUnreadableError, unreadableEventOf } from '../../jobs/job-history-unreadable-error.ts';
import { executeJobCommand, type LoadedJob, loadJob } from '../../jobs/job-stream.ts';
import { attemptMessageId, type RunJobMessage } from '../job-queue.ts';
import { attemptMessage } from './attempt-message.ts';
import type { WorkerLeases } from './worker-leases.ts';

export interface ReconcilerDeps {
  readonly db: Kysely<Database>;
  readonly store: EventStore;
  readonly queue: Queue<RunJobMessage>;
  /**
   * The queue's Redis, to ask about a thousand waiting attempts' messages per call; absent: one
   * lookup per attempt through the queue (slow with a large backlog).
   */
  readonly redis?: Redis;
  readonly leases: WorkerLeases;
  readonly logger: Logger;
  readonly now?: () => Date;
  readonly random?: () => number;
  /**
   * How long a running attempt may go unheld by its live worker before it is abandoned: the
   * worker lost it (its outcome could not be kept) without dying, so its lease alone would keep
   * the job running until that worker restarts. Default 30 s.
   */
  readonly unheldGraceMs?: number;
  /** When each running-but-unheld attempt was first seen so, across passes; kept by `startReconciler`. */
  readonly unheldSince?: Map<string, number>;
  /**
   * False right after a database outage: no worker could renew its lease while Postgres was down,
   * so a lapsed lease then says nothing about the worker; they are judged again once workers had
   * a lease period to renew. Default true.
   */
  readonly judgeLapsedLeases?: boolean;
  /** Where a job whose history it cannot read is reported; default: the table, the logger and the metric. */
  readonly unreadable?: UnreadableEventLog;
}

export interface ReconcileReport {
  readonly open: number;
  readonly requeued: number;
  readonly expired: number;
  readonly abandoned: number;
}

/**
 * What a pass may look at short of every open job: the log after a position a full pass had read.
 * What changed in Redis alone (a wiped or restarted Redis) is caught by the sentinel the full pass
 * leaves there, whose absence makes the next pass a full one again.
 */
export interface ChangedScope {
  readonly afterPosition: number;
}

/** An open job as its newest event tells it, without reading its stream. */
interface OpenJob {
  readonly jobId: string;
  readonly status: 'queued' | 'running';
  readonly attempt: number;
  /** Queued: the attempt's queue-wait deadline, when it has one. */
  readonly expiresAt?: Date;
  /** Running: the worker that started the attempt. */
  readonly workerId?: string;
}

/**
 * Jobs the log says are waiting or running, from each job stream's newest event (by the streams
 * table), with what a pass needs to judge them: the attempt, its queue deadline, its worker. One
 * set-based query, so a pass reads no stream but those it must act on.
 */
async function openJobs(db: Kysely<Database>, among?: ChangedScope): Promise<OpenJob[]> {
  // A pass after a full one: only the job streams written since it, and those whose state can
  // change without an event (a running attempt's worker dying, a waiting attempt's deadline):
  // the attempts workers hold, and, from the jobs read model where a projection keeps it, the
  // running jobs and the waiting ones whose deadline is due (without it, the minute's full pass).
  const candidates =
    among === undefined
      ? sql``
      : sql`and s.stream_id in (
          select stream_id from events where global_position > ${among.afterPosition} and starts_with(stream_id, 'job-')
          union
          -- Attempts workers hold (a dead worker's holds stay until pruned): no projection needed.
          select 'job-' || substring(worker_id from '/holds/(.*)-[0-9]+$') from worker_leases
          where worker_id like '%/holds/%'
          union
          select 'job-' || id from jobs
          where status = 'running' or (status = 'queued' and expires_at <= now())
        )`;
  const { rows } = await sql<{
    job_id: string;
    type: string;
    attempt: number;
    expires_at: string | null;
    worker_id: string | null;
  }>`
    select substr(s.stream_id, 5) as job_id, e.type,
           coalesce((e.data->>'attempt')::int, 1) as attempt,
           e.data->>'expiresAt' as expires_at,
           started.worker_id
    from streams s
    join events e on e.stream_id = s.stream_id and e.stream_version = s.version
    left join lateral (
      select x.data->>'workerId' as worker_id from events x
      where x.stream_id = s.stream_id and x.type = 'JobStarted'
      order by x.stream_version desc limit 1
    ) started on e.type in ('JobStarted', 'JobOutput')
    where starts_with(s.stream_id, 'job-')
      and e.type in ('JobSubmitted', 'JobRetryScheduled', 'JobStarted', 'JobOutput')
      ${candidates}
  `.execute(db);
  return rows.map((row) => {
    const running = row.type === 'JobStarted' || row.type === 'JobOutput';
    return {
      jobId: row.job_id,
      status: running ? 'running' : 'queued',
      attempt: row.attempt,
      ...(!running && row.expires_at ? { expiresAt: new Date(row.expires_at) } : {}),
      ...(running && row.worker_id ? { workerId: row.worker_id } : {}),
    };
  });
}

/** What Redis holds for an attempt's message: a live one, a finished one (lost to an error), none. */
type MessageState = 'live' | 'finished' | 'missing';

/**
 * Answers for many messages in one round trip: 0 none, 1 live, 2 finished (in the completed or
 * failed set). Run in Redis, so a backlog of 100k costs a hundred calls, not 300k commands.
 */
const messageStatesScript = `
local answers = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('EXISTS', ARGV[1] .. id) == 0 then
    answers[i - 1] = 0
  elseif redis.call('ZSCORE', KEYS[1], id) or redis.call('ZSCORE', KEYS[2], id) then
    answers[i - 1] = 2
  else
    answers[i - 1] = 1
  end
end
return answers`;

const messageStateOf: Readonly<Record<number, MessageState>> = { 0: 'missing', 1: 'live', 2: 'finished' };

/** Each attempt's message state, a thousand per call to Redis, or one by one without `redis`. */
async function messageStates(
  deps: Pick<ReconcilerDeps, 'queue' | 'redis'>,
  messageIds: readonly string[],
): Promise<ReadonlyMap<string, MessageState>> {
  const states = new Map<string, MessageState>();
  const { queue, redis } = deps;
  if (!redis) {
    for (const id of messageIds) {
      const existing = await queue.getJob(id);
      const state = existing ? await existing.getState() : undefined;
      states.set(
        id,
        !existing ? 'missing' : state === 'completed' || state === 'failed' ? 'finished' : 'live',
      );
    }
    return states;
  }
  const keys = [queue.toKey('completed'), queue.toKey('failed')];
  for (let start = 0; start < messageIds.length; start += 1000) {
    const chunk = messageIds.slice(start, start + 1000);
    const answers = (await redis.eval(
      messageStatesScript,
      2,
      ...keys,
      queue.toKey(''),
      ...chunk,
    )) as number[];
    for (const [index, id] of chunk.entries())
      states.set(id, messageStateOf[answers[index] ?? 0] ?? 'missing');
  }
  return states;
}

/**
 * One pass of re-deriving the queue from the log: a waiting attempt without a live message gets
 * one (Redis lost it, or it failed); one past its queue deadline expires; a running attempt whose
 * worker's lease lapsed is recorded abandoned (and retried per policy, by the decider). Every
 * write goes through the decider at the version read, so racing a worker is harmless.
 */
export async function reconcileOnce(deps: ReconcilerDeps, among?: ChangedScope): Promise<ReconcileReport> {
  const now = deps.now ?? (() => new Date());
  const random = deps.random ?? Math.random;
  // Rows of workers that died without a release: kept a day for the reaper's judgement, then gone.
  await deps.leases.prune(24 * 3600_000);
  const open = await openJobs(deps.db, among);
  const unheldSince = deps.unheldSince ?? new Map<string, number>();
  const unheldGraceMs = deps.unheldGraceMs ?? 30_000;
  const stillUnheld = new Set<string>();
  let requeued = 0;
  let expired = 0;
  let abandoned = 0;
  const act = async (jobId: string, command: JobCommand, loaded: LoadedJob) => {
    try {
      await executeJobCommand(
        deps.store,
        jobId,
        command,
        { actor: 'reconciler', correlationId: jobId },
        loaded,
      );
      return true;
    } catch (error) {
      if (error instanceof ConcurrencyError || error instanceof JobDomainError) return false;
      throw error;
    }
  };
  const unreadable: UnreadableEvent[] = [];
  // The stream of a job the pass must act on: the decider judges its current state, never the
  // summary the pass started from. Undefined: its history is unreadable (reported, passed over).
  const load = async (jobId: string): Promise<LoadedJob | undefined> => {
    try {
      return await loadJob(deps.store, jobId);
    } catch (error) {
      // One job's unreadable history (an event written by hand) must not end the pass for every
      // job after it: it is reported and passed over.
      if (!(error instanceof JobHistoryUnreadableError)) throw error;
      unreadable.push(unreadableEventOf(error));
      return undefined;
    }
  };

  // Waiting attempts: the due for expiry, and those whose message Redis lost or finished early.
  const passStartedAt = now();
  const waiting = open.filter((job) => job.status === 'queued');
  const expiring = waiting.filter((job) => job.expiresAt !== undefined && job.expiresAt <= passStartedAt);
  const messages = await messageStates(
    deps,
    waiting.filter((job) => !expiring.includes(job)).map((job) => attemptMessageId(job.jobId, job.attempt)),
  );
  const needsMessage = waiting.filter(
    (job) => !expiring.includes(job) && messages.get(attemptMessageId(job.jobId, job.attempt)) !== 'live',
  );
  for (const job of [...expiring, ...needsMessage]) {
    const loaded = await load(job.jobId);
    if (!loaded) continue;
    const { state } = loaded;
    if (state.status !== 'queued') continue;
    if (state.expiresAt && state.expiresAt <= now()) {
      if (await act(job.jobId, { type: 'ExpireAttempt', attempt: state.attempt, now: now() }, loaded))
        expired += 1;
      continue;
    }
    const id = attemptMessageId(job.jobId, state.attempt);
    const existing = await deps.queue.getJob(id);
    if (existing) {
      const queueState = await existing.getState();
      // Finished or failed while the log still waits: the message was lost to an error; redo it.
      if (queueState !== 'completed' && queueState !== 'failed') continue;
      await existing.remove().catch(() => undefined);
    }
    const message = attemptMessage(
      {
        jobId: job.jobId,
        attempt: state.attempt,
        tenant: state.tenant,
        ...(state.spec.priority === undefined ? {} : { priority: state.spec.priority }),
        ...(state.dueAt ? { dueAt: state.dueAt } : {}),
      },
      now().getTime(),
    );
    await deps.queue.add(message.name, message.data, message.opts);
    requeued += 1;
  }

  // Running attempts: each worker's lease is asked once per pass, not once per attempt.
  const alive = new Map<string, Promise<boolean>>();
  const isAlive = (workerId: string) => {
    const known = alive.get(workerId);
    if (known) return known;
    const answer = deps.leases.isAlive(workerId);
    alive.set(workerId, answer);
    return answer;
  };
  for (const job of open.filter((candidate) => candidate.status === 'running')) {
    const workerId = job.workerId;
    if (workerId === undefined) continue;
    const key = attemptMessageId(job.jobId, job.attempt);
    if (await isAlive(workerId)) {
      // Undefined: a worker that does not list its attempts; its lease is all there is to judge.
      if ((await deps.leases.holds(workerId, job.jobId, job.attempt)) !== false) continue;
      stillUnheld.add(key);
      const since = unheldSince.get(key) ?? now().getTime();
      unheldSince.set(key, since);
      // The grace covers a worker between appending the start and its hold landing (written
      // together, or again within 5 s of an outage's end), and between the outcome and the drop.
      if (now().getTime() - since < unheldGraceMs) continue;
      deps.logger.warn(
        { jobId: job.jobId, attempt: job.attempt, workerId },
        'a live worker no longer holds this running attempt; recording it abandoned',
      );
    } else if (deps.judgeLapsedLeases === false) {
      continue;
    }
    const loaded = await load(job.jobId);
    if (!loaded) continue;
    const { state } = loaded;
    // Moved on since the pass read it (finished, or another attempt): nothing to abandon.
    if (state.status !== 'running' || state.attempt !== job.attempt || state.current.workerId !== workerId)
      continue;
    const command = {
      type: 'AbandonAttempt',
      attempt: state.attempt,
      workerId,
      reason: 'worker-lost',
      now: now(),
      random: random(),
    } as const;
    if (await act(job.jobId, command, loaded)) abandoned += 1;
  }
  for (const key of unheldSince.keys()) if (!stillUnheld.has(key)) unheldSince.delete(key);
  if (unreadable.length > 0)
    await (deps.unreadable ?? createUnreadableEventLog({ db: deps.db, logger: deps.logger })).report(
      'reconciler',
      unreadable,
    );
  const report = { open: open.length, requeued, expired, abandoned };
  if (requeued + expired + abandoned > 0) deps.logger.warn(report, 'reconciled the queue with the log');
  return report;
}

/** Runs `reconcileOnce` now and every `intervalMs`, one pass at a time. */
export function startReconciler(
  deps: ReconcilerDeps & {
    readonly intervalMs: number;
    /** Passes run only while this says so (the active dispatcher); standbys stay idle. */
    readonly isActive?: () => boolean;
    /**
     * Workers' lease period. Lapsed leases are judged only after this long of passes that reached
     * Postgres (after an outage, a start or a takeover): nobody could renew while it was down.
     * Absent: judged at once.
     */
    readonly leaseMs?: number;
    /**
     * How often a pass looks at every open job; the passes between look only at what changed
     * since (see ChangedScope). Default 60 s; 0: every pass is a full one.
     */
    readonly fullPassEveryMs?: number;
  },
): {
  stop(): Promise<void>;
} {
  let stopped = false;
  const fullPassEveryMs = deps.fullPassEveryMs ?? 60_000;
  // When the last full pass started; undefined: the next pass is a full one.
  let lastFullAt: number | undefined;
  let afterPosition = 0;
  // Left in Redis by every full pass: gone means Redis lost its keys (a wipe, a restart without
  // persistence) since, so messages may be missing for jobs whose streams did not change.
  const sentinel = deps.queue.toKey('omni-reconciled');
  const scopeOfNextPass = async (): Promise<ChangedScope | undefined> => {
    if (!deps.redis || fullPassEveryMs === 0 || lastFullAt === undefined) return undefined;
    if (Date.now() - lastFullAt >= fullPassEveryMs) return undefined;
    if ((await deps.redis.exists(sentinel)) !== 1) return undefined;
    return { afterPosition };
  };
  const logPosition = async () => {
    const { rows } = await sql<{
      position: string | null;
    }>`select max(global_position) as position from events`.execute(deps.db);
    return Number(rows[0]?.position ?? 0);
  };
  const { sleep, wake } = createWakeableSleep();
  const unheldSince = deps.unheldSince ?? new Map<string, number>();
  // Since when passes reach Postgres without a break. An outage also stops this reconciler being
  // the active one (its lock session drops), so a takeover or a start counts as a break too.
  let reachingSince: number | undefined;
  // One pass at a time, then a pause: a slow pass delays the next instead of piling passes up.
  const loop = (async () => {
    while (!stopped) {
      if (deps.isActive?.() ?? true) {
        const startedAt = Date.now();
        const judgeLapsedLeases =
          deps.leaseMs === undefined ||
          (reachingSince !== undefined && startedAt - reachingSince >= deps.leaseMs);
        const pass = async () => {
          const among = await scopeOfNextPass();
          // Read before the pass: whatever commits during it is looked at by the next one.
          const position = await logPosition();
          await reconcileOnce({ ...deps, unheldSince, judgeLapsedLeases }, among);
          afterPosition = position;
          if (!among) {
            lastFullAt = startedAt;
            await deps.redis?.set(sentinel, String(position));
          }
        };
        await pass().then(
          () => {
            reachingSince ??= startedAt;
          },
          (error: unknown) => {
            if (!isDatabaseUnavailable(error)) {
              deps.logger.error({ err: error }, 'reconcile pass failed');
              return;
            }
            reachingSince = undefined;
            lastFullAt = undefined;
            deps.logger.warn(
              { error: { message: (error as Error).message } },
              'reconcile pass failed: Postgres is unreachable; lapsed leases are judged again a lease period after it answers',
            );
          },
        );
      } else {
        reachingSince = undefined;
      }
      await sleep(deps.intervalMs);
    }
  })();
  return {
    async stop() {
      stopped = true;
      wake();
      await loop;
    },
  };
}
