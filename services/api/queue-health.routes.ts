import { createRoute } from '@hono/zod-openapi';
import { type Kysely, sql } from 'kysely';
import { z } from 'zod';
import type { Database } from '../../events/tables.ts';
import type { AuthVariables } from './bearer-auth.middleware.ts';
import { jsonResponse, openApiRoutes, problems, scoped } from './openapi-route.ts';

export interface QueueHealthRoutesDeps {
  readonly db: Kysely<Database>;
  /** Attempts one tenant may run at once (TENANT_MAX_RUNNING); absent: caps show as unknown. */
  readonly tenantMaxRunning?: number;
}

/** How far back the delay percentiles and the throughput chart look, and the chart's bucket. */
export const queueHealthWindowMinutes = 60;
const maxWorkersShown = 200;
const holdPattern = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-[0-9]+$';

const count = z.number().int().nonnegative();
const finishedStatuses = ['succeeded', 'failed', 'cancelled', 'expired'] as const;

export const queueHealthSchema = z
  .object({
    tenants: z.array(
      z.object({
        tenant: z.string(),
        queued: count,
        running: count,
        /** Attempts the tenant may run at once across every worker; null when this API was not told. */
        cap: count.nullable(),
      }),
    ),
    queued: count,
    running: count,
    tenantCap: count.nullable(),
    schedulingDelay: z.object({
      windowSeconds: count,
      started: count,
      p50Ms: z.number().nullable(),
      p95Ms: z.number().nullable(),
    }),
    workers: z.array(
      z.object({
        workerId: z.string(),
        leaseExpiresAt: z.string(),
        alive: z.boolean(),
        /** The attempts the worker says it holds, with what each runs (from the jobs read model). */
        running: z.array(
          z.object({
            jobId: z.string(),
            attempt: count,
            tenant: z.string().nullable(),
            image: z.string().nullable(),
            status: z.string().nullable(),
          }),
        ),
      }),
    ),
    /** Jobs finished per minute, oldest first, one entry per minute of the window (empty ones too). */
    throughput: z.array(
      z.object({
        minute: z.string(),
        succeeded: count,
        failed: count,
        cancelled: count,
        expired: count,
      }),
    ),
  })
  .meta({ id: 'QueueHealth' });
export type QueueHealth = z.infer<typeof queueHealthSchema>;

const queueHealth = createRoute({
  method: 'get',
  path: '/queue-health',
  tags: ['admin'],
  summary:
    'Backlog and running jobs per tenant against the cap, p50/p95 submitted → started, workers and what they hold, jobs finished per minute (last hour)',
  ...scoped('admin'),
  responses: {
    200: jsonResponse('Queue health from the jobs read model', queueHealthSchema, {
      tenants: [{ tenant: 'default', queued: 3, running: 1, cap: 8 }],
      queued: 3,
      running: 1,
      tenantCap: 8,
      schedulingDelay: { windowSeconds: 3600, started: 12, p50Ms: 140, p95Ms: 910 },
      workers: [
        {
          workerId: 'worker-7f3a',
          leaseExpiresAt: '2026-01-05T10:00:30.000Z',
          alive: true,
          running: [
            {
              jobId: '0194a3c2-5b7e-7c1d-9f00-3e1a2b4c5d6e',
              attempt: 1,
              tenant: 'default',
              image: 'alpine:3.20',
              status: 'running',
            },
          ],
        },
      ],
      throughput: [{ minute: '2026-01-05T09:59:00Z', succeeded: 4, failed: 1, cancelled: 0, expired: 0 }],
    }),
    ...problems(401, 403, 429),
  },
});

interface HealthRow {
  readonly backlog: ReadonlyArray<{ tenant: string; status: string; count: number }>;
  readonly started_last_hour: string;
  readonly p50_ms: number | null;
  readonly p95_ms: number | null;
  readonly throughput: ReadonlyArray<{ minute: string } & Record<(typeof finishedStatuses)[number], number>>;
}

interface WorkerRow {
  readonly worker_id: string;
  readonly expires_at: Date;
  readonly alive: boolean;
  readonly running: ReadonlyArray<{
    hold: string;
    tenant: string | null;
    image: string | null;
    status: string | null;
  }>;
}

/**
 * GET /v1/admin/queue-health (admin, mounted under /v1/admin): what waits and runs per tenant
 * against the tenant cap, how long jobs waited to start over the last hour, the workers with their
 * leases and the attempts they hold, and jobs finished per minute by outcome. All from the jobs
 * read model and the lease table (no scan of the log): one grouped query for the jobs, one for
 * the workers. The delay is submitted → the current attempt's start, so a retried job counts its
 * latest start.
 */
export function createQueueHealthRoutes(deps: QueueHealthRoutesDeps) {
  const cap = deps.tenantMaxRunning ?? null;
  return openApiRoutes<{ Variables: AuthVariables }>().openapi(queueHealth, async (c) => {
    const window = sql.lit(`${queueHealthWindowMinutes} minutes`);
    const [jobs, workers] = await Promise.all([
      sql<HealthRow>`
        -- One pass over the read model: what waits or runs, and what started or finished in the window.
        with recent as materialized (
          select coalesce(tenant, 'default') as tenant, status, submitted_at, started_at, finished_at
          from jobs
          where status in ('queued', 'running')
             or started_at >= now() - interval ${window}
             or finished_at >= date_trunc('minute', now()) - interval ${window} + interval '1 minute'
        ), backlog as (
          select tenant, status, count(*)::int as count
          from recent where status in ('queued', 'running')
          group by 1, 2
        ), delays as (
          select extract(epoch from (started_at - submitted_at)) * 1000 as delay_ms
          from recent where started_at >= now() - interval ${window}
        ), minutes as (
          -- Every minute of the window, so a quiet minute is a zero and not a gap in the chart.
          select generate_series(date_trunc('minute', now()) - interval ${window} + interval '1 minute',
                                 date_trunc('minute', now()), interval '1 minute') as minute
        ), finished as (
          select date_trunc('minute', finished_at) as minute,
                 count(*) filter (where status = 'succeeded')::int as succeeded,
                 count(*) filter (where status = 'failed')::int as failed,
                 count(*) filter (where status = 'cancelled')::int as cancelled,
                 count(*) filter (where status = 'expired')::int as expired
          from recent
          where finished_at >= date_trunc('minute', now()) - interval ${window} + interval '1 minute'
          group by 1
        )
        select
          coalesce((select jsonb_agg(backlog order by tenant, status) from backlog), '[]'::jsonb) as backlog,
          (select count(*) from delays) as started_last_hour,
          (select percentile_cont(0.5) within group (order by delay_ms) from delays) as p50_ms,
          (select percentile_cont(0.95) within group (order by delay_ms) from delays) as p95_ms,
          (select jsonb_agg(jsonb_build_object(
                    'minute', to_char(m.minute at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                    'succeeded', coalesce(f.succeeded, 0), 'failed', coalesce(f.failed, 0),
                    'cancelled', coalesce(f.cancelled, 0), 'expired', coalesce(f.expired, 0))
                  order by m.minute)
           from minutes m left join finished f on f.minute = m.minute) as throughput
      `.execute(deps.db),
      // The lease table holds, beside each worker's lease `<worker>`, a marker `<worker>/holds`
      // and one row `<worker>/holds/<job>-<attempt>` per attempt it holds (workers/lifecycle/worker-leases.ts).
      sql<WorkerRow>`
        select w.worker_id, w.expires_at, w.expires_at > now() as alive,
               coalesce((
                 select jsonb_agg(jsonb_build_object('hold', held.hold,
                                                     'tenant', j.tenant, 'image', j.image, 'status', j.status)
                                  order by h.worker_id)
                 from worker_leases h
                 cross join lateral (select substr(h.worker_id, length(w.worker_id) + 8) as hold) held
                 -- By primary key: a hold names a uuid job id (anything else finds no job).
                 left join jobs j on j.id = case when held.hold ~* ${holdPattern} then left(held.hold, 36)::uuid end
                 where starts_with(h.worker_id, w.worker_id || '/holds/')
               ), '[]'::jsonb) as running
        from worker_leases w
        where strpos(w.worker_id, '/holds') = 0
        order by w.expires_at desc, w.worker_id
        limit ${maxWorkersShown}
      `.execute(deps.db),
    ]);
    const row = jobs.rows[0];
    const backlog = row?.backlog ?? [];
    const tenants = [...new Set(backlog.map((entry) => entry.tenant))].map((tenant) => {
      const of = (status: string) =>
        backlog.find((entry) => entry.tenant === tenant && entry.status === status)?.count ?? 0;
      return { tenant, queued: of('queued'), running: of('running'), cap };
    });
    const round = (value: number | null | undefined) => (value == null ? null : Math.round(Number(value)));
    const health: QueueHealth = {
      tenants,
      queued: tenants.reduce((sum, tenant) => sum + tenant.queued, 0),
      running: tenants.reduce((sum, tenant) => sum + tenant.running, 0),
      tenantCap: cap,
      schedulingDelay: {
        windowSeconds: queueHealthWindowMinutes * 60,
        started: Number(row?.started_last_hour ?? 0),
        p50Ms: round(row?.p50_ms),
        p95Ms: round(row?.p95_ms),
      },
      workers: workers.rows.map((worker) => ({
        workerId: worker.worker_id,
        leaseExpiresAt: worker.expires_at.toISOString(),
        alive: worker.alive,
        running: worker.running.map((held) => {
          const dash = held.hold.lastIndexOf('-');
          return {
            jobId: held.hold.slice(0, dash),
            attempt: Number(held.hold.slice(dash + 1)),
            tenant: held.tenant,
            image: held.image,
            status: held.status,
          };
        }),
      })),
      throughput: [...(row?.throughput ?? [])],
    };
    return c.json(health, 200);
  });
}
