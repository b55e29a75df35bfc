import { ThroughputChart } from '../components/throughput-chart.tsx';
import { formatDuration, formatTime } from '../format.ts';
import { href, Link } from '../router.tsx';
import { useSession } from '../session-context.ts';
import type { QueueHealth } from '../types.ts';
import { usePolling } from '../use-polling.ts';

/**
 * Backlog and running attempts per tenant against the cap, how long jobs waited to start, the
 * workers with their leases and what each runs, and jobs finished per minute (admin).
 */
export function HealthPage() {
  const { api } = useSession();
  const health = usePolling('queue-health', (signal) => api.get<QueueHealth>('/v1/admin/queue-health', signal), 2000);
  const value = health.value;
  return (
    <section>
      <h1>Queue health</h1>
      {health.error && (
        <p class="error" role="alert">
          {health.error.message}
        </p>
      )}
      {value && (
        <>
          <dl class="facts" data-testid="health">
            <dt>queued</dt>
            <dd data-testid="queued">{value.queued}</dd>
            <dt>running</dt>
            <dd data-testid="running">{value.running}</dd>
            <dt>cap per tenant</dt>
            <dd data-testid="tenant-cap">{value.tenantCap ?? 'not known to this API'}</dd>
            <dt>started in the last hour</dt>
            <dd>{value.schedulingDelay.started}</dd>
            <dt>submitted → started, p50</dt>
            <dd data-testid="p50">{formatDuration(value.schedulingDelay.p50Ms)}</dd>
            <dt>submitted → started, p95</dt>
            <dd data-testid="p95">{formatDuration(value.schedulingDelay.p95Ms)}</dd>
          </dl>
          <h2>Tenants</h2>
          <table data-testid="tenants">
            <thead>
              <tr>
                <th>tenant</th>
                <th>queued</th>
                <th>running / cap</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {value.tenants.map((tenant) => (
                <tr key={tenant.tenant} data-tenant={tenant.tenant}>
                  <td>{tenant.tenant}</td>
                  <td>{tenant.queued}</td>
                  <td data-testid="tenant-running">
                    {tenant.running} / {tenant.cap ?? '?'}
                  </td>
                  <td>
                    {tenant.cap !== null && (
                      <meter min={0} max={tenant.cap} value={Math.min(tenant.running, tenant.cap)} high={tenant.cap - 0.5}>
                        {tenant.running} of {tenant.cap}
                      </meter>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {value.tenants.length === 0 && <p class="muted">Nothing waits or runs.</p>}
          <h2>Workers</h2>
          <table data-testid="workers">
            <thead>
              <tr>
                <th>worker</th>
                <th>lease</th>
                <th>runs</th>
              </tr>
            </thead>
            <tbody>
              {value.workers.map((worker) => (
                <tr key={worker.workerId} data-worker-id={worker.workerId} class={worker.alive ? '' : 'lapsed'}>
                  <td class="mono">{worker.workerId}</td>
                  <td>
                    {worker.alive ? 'held until' : 'lapsed at'} {formatTime(worker.leaseExpiresAt)}
                  </td>
                  <td>
                    {worker.running.length === 0 && <span class="muted">idle</span>}
                    {worker.running.map((held) => (
                      <div key={`${held.jobId}-${held.attempt}`} data-held-job={held.jobId}>
                        <Link to={href(`/jobs/${encodeURIComponent(held.jobId)}`)}>
                          <span class="mono">{held.jobId}</span>
                        </Link>{' '}
                        attempt {held.attempt}
                        <span class="muted">
                          {' '}
                          {held.image ?? ''} {held.tenant ? `tenant ${held.tenant}` : ''} {held.status ?? ''}
                        </span>
                      </div>
                    ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {value.workers.length === 0 && <p class="muted">No worker holds a lease.</p>}
          <h2>Finished per minute, last hour</h2>
          <ThroughputChart minutes={value.throughput} />
        </>
      )}
    </section>
  );
}
