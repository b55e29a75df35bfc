import { Hono } from 'hono';
import { type Kysely, sql } from 'kysely';
import { z } from 'zod';
import type { Database } from '../../events/tables.ts';

export interface QueueHealthRoutesDeps {
  readonly db: Kysely<Database>;
}

const count = z.number().int().nonnegative();
export const queueHealthSchema = z.object({
  tenants: z.array(z.object({ tenant: z.string(), queued: count, running: count })),
  queued: count,
  running: count,
  schedulingDelay: z.object({
    windowSeconds: count,
    started: count,
    p50Ms: z.number().nullable(),
    p95Ms: z.number().nullable(),
  }),
});

interface HealthRow {
  readonly backlog: ReadonlyArray<{ tenant: string; status: string; count: number }>;
  readonly started_last_hour: string;
  readonly p50_ms: number | null;
  readonly p95_ms: number | null;
}

/**
 * GET /v1/admin/queue-health (admin, mounted under /v1/admin): what waits and runs per tenant, and
 * how long jobs waited to start over the last hour, from the jobs read model in one query (no scan
 * of the log). The delay is submitted → the current attempt's start, so a retried job counts its
 * latest start.
 */
export function createQueueHealthRoutes(deps: QueueHealthRoutesDeps) {
  return new Hono().get('/queue-health', async (c) => {
    const { rows } = await sql<HealthRow>`
      with backlog as (
        select coalesce(tenant, 'default') as tenant, status, count(*)::int as count
        from jobs where status in ('queued', 'running')
        group by 1, 2
      ), delays as (
        select extract(epoch from (started_at - submitted_at)) * 1000 as delay_ms
        from jobs where started_at >= now() - interval '1 hour'
      )
      select
        coalesce((select jsonb_agg(backlog order by tenant, status) from backlog), '[]'::jsonb) as backlog,
        (select count(*) from delays) as started_last_hour,
        (select percentile_cont(0.5) within group (order by delay_ms) from delays) as p50_ms,
        (select percentile_cont(0.95) within group (order by delay_ms) from delays) as p95_ms
    `.execute(deps.db);
    const row = rows[0];
    const backlog = row?.backlog ?? [];
    const tenants = [...new Set(backlog.map((entry) => entry.tenant))].map((tenant) => {
      const of = (status: string) =>
        backlog.find((entry) => entry.tenant === tenant && entry.status === status)?.count ?? 0;
      return { tenant, queued: of('queued'), running: of('running') };
    });
    const round = (value: number | null | undefined) => (value == null ? null : Math.round(Number(value)));
    return c.json<z.infer<typeof queueHealthSchema>>({
      tenants,
      queued: tenants.reduce((sum, tenant) => sum + tenant.queued, 0),
      running: tenants.reduce((sum, tenant) => sum + tenant.running, 0),
      schedulingDelay: {
        windowSeconds: 3600,
        started: Number(row?.started_last_hour ?? 0),
        p50Ms: round(row?.p50_ms),
        p95Ms: round(row?.p95_ms),
      },
    });
  });
}
