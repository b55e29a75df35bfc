import { useSession } from '../session-context.ts';
import type { JobVerification } from '../types.ts';
import { usePolling } from '../use-polling.ts';

/**
 * "History verified": the job stream's hash chain recomputed by the server, whenever the job
 * moves on (its history grows) and again every few seconds while it is live. An altered history names the first version that breaks.
 */
export function HistoryBadge(props: { readonly id: string; readonly status: string; readonly attempt: number }) {
  const { api } = useSession();
  // A new status or attempt means new events: checked again at once, not at the next tick.
  const check = usePolling(
    `verify ${props.id} ${props.status} ${props.attempt}`,
    (signal) => api.get<JobVerification>(`/v1/jobs/${encodeURIComponent(props.id)}/verify`, signal),
    // A finished job's stream only grows by an operator's retry (which changes the status): a
    // rare recheck still catches a rewrite made while the page stays open.
    props.status === 'queued' || props.status === 'running' ? 5000 : 30_000,
  );
  const result = check.value;
  if (!result) {
    return (
      <span class="history" data-testid="history" data-verified="unknown">
        {check.error ? `history not checked: ${check.error.message}` : 'checking history…'}
      </span>
    );
  }
  if (result.verified) {
    return (
      <span
        class="history history-verified"
        data-testid="history"
        data-verified="true"
        title={`hash chain recomputed through version ${result.lastVersion} (log position ${result.lastPosition})`}
      >
        ✓ history verified · {result.events} events
      </span>
    );
  }
  return (
    <span
      class="history history-altered"
      data-testid="history"
      data-verified="false"
      title={`the hash chain does not hold (${result.problem ?? 'unknown'})`}
    >
      ✗ history altered at version {result.firstBadVersion ?? '?'}
    </span>
  );
}
