import { formatDuration } from '../format.ts';
import { useSession } from '../session-context.ts';
import type { QueueHealth } from '../types.ts';
import { usePolling } from '../use-polling.ts';

/** Backlog and running attempts per tenant, and how long jobs waited to start (admin). */
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
            <dt>started in the last hour</dt>
            <dd>{value.schedulingDelay.started}</dd>
            <dt>submitted → started, p50</dt>
            <dd data-testid="p50">{formatDuration(value.schedulingDelay.p50Ms)}</dd>
            <dt>submitted → started, p95</dt>
            <dd data-testid="p95">{formatDuration(value.schedulingDelay.p95Ms)}</dd>
          </dl>
          <table data-testid="tenants">
            <thead>
              <tr>
                <th>tenant</th>
                <th>queued</th>
                <th>running</th>
              </tr>
            </thead>
            <tbody>
              {value.tenants.map((tenant) => (
                <tr key={tenant.tenant}>
                  <td>{tenant.tenant}</td>
                  <td>{tenant.queued}</td>
                  <td>{tenant.running}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {value.tenants.length === 0 && <p class="muted">Nothing waits or runs.</p>}
        </>
      )}
    </section>
  );
}
