import { useState } from 'preact/hooks';
import { href, Link } from '../router.tsx';
import { useSession } from '../session-context.ts';

type Action = 'cancel' | 'retry';

interface BulkResult {
  readonly operationId: string | null;
  readonly matched: number;
  readonly results: ReadonlyArray<{ id: string; outcome: string; status: string | null; detail?: string }>;
  readonly summary: Readonly<Record<string, number>>;
}

type Step =
  | { readonly name: 'idle' }
  | { readonly name: 'counting'; readonly action: Action }
  | { readonly name: 'confirm'; readonly action: Action; readonly matched: number }
  | { readonly name: 'running'; readonly action: Action; readonly matched: number }
  | { readonly name: 'done'; readonly action: Action; readonly result: BulkResult }
  | { readonly name: 'failed'; readonly message: string };

/** The page's filters as the bulk endpoints take them (the same meaning as GET /v1/jobs). */
function bulkFilter(filters: URLSearchParams): Record<string, unknown> {
  const filter: Record<string, unknown> = {};
  const status = filters.get('status');
  if (status) filter.status = status.split(',');
  for (const key of ['image', 'submittedBy', 'submittedAfter', 'submittedBefore', 'tenant', 'q'] as const) {
    const value = filters.get(key);
    if (value) filter[key] = value;
  }
  const labels = filters.getAll('label');
  if (labels.length > 0) filter.label = labels;
  return filter;
}

const verb = (action: Action) => (action === 'cancel' ? 'Cancel' : 'Retry');

/**
 * Cancel or retry every job the current filter matches: the count first (a dry run of the same
 * request), a confirmation naming it, then one operation whose per-job results are listed.
 */
export function BulkActions(props: { readonly filters: URLSearchParams }) {
  const { api, can } = useSession();
  const [step, setStep] = useState<Step>({ name: 'idle' });
  const filter = bulkFilter(props.filters);
  const count = async (action: Action) => {
    setStep({ name: 'counting', action });
    try {
      const dry = await api.post<BulkResult>(`/v1/jobs/bulk-${action}`, { filter, dryRun: true });
      setStep({ name: 'confirm', action, matched: dry.matched });
    } catch (error) {
      setStep({ name: 'failed', message: error instanceof Error ? error.message : String(error) });
    }
  };
  const run = async (action: Action, matched: number) => {
    setStep({ name: 'running', action, matched });
    try {
      // maxJobs: never more than the count the operator confirmed.
      const result = await api.post<BulkResult>(`/v1/jobs/bulk-${action}`, { filter, maxJobs: Math.max(matched, 1) });
      setStep({ name: 'done', action, result });
    } catch (error) {
      setStep({ name: 'failed', message: error instanceof Error ? error.message : String(error) });
    }
  };
  const offered = ([] as Action[]).concat(can('jobs:cancel') ? ['cancel'] : [], can('jobs:submit') ? ['retry'] : []);
  if (offered.length === 0) return null;
  return (
    <div class="bulk" data-testid="bulk">
      {(step.name === 'idle' || step.name === 'done' || step.name === 'failed') &&
        offered.map((action) => (
          <button
            key={action}
            type="button"
            data-testid={`bulk-${action}`}
            onClick={() => count(action)}
          >
            {verb(action)} all matching…
          </button>
        ))}
      {step.name === 'counting' && <span>Counting the matching jobs…</span>}
      {step.name === 'confirm' && (
        <span class="confirm" data-testid="bulk-confirm">
          {step.matched === 0 ? (
            <>No job matches this filter. </>
          ) : (
            <>
              {verb(step.action)} <strong data-testid="bulk-count">{step.matched}</strong>{' '}
              {step.matched === 1 ? 'job' : 'jobs'} matching this filter?{' '}
              <button type="button" data-testid="bulk-run" onClick={() => run(step.action, step.matched)}>
                Yes, {step.action} {step.matched}
              </button>{' '}
            </>
          )}
          <button type="button" onClick={() => setStep({ name: 'idle' })}>
            Back
          </button>
        </span>
      )}
      {step.name === 'running' && (
        <span role="status">
          {verb(step.action)}ing {step.matched} jobs…
        </span>
      )}
      {step.name === 'failed' && (
        <span class="error" role="alert">
          {step.message}
        </span>
      )}
      {step.name === 'done' && (
        <div class="bulk-result" data-testid="bulk-result">
          <p>
            Operation <span class="mono" data-testid="operation-id">{step.result.operationId}</span>:{' '}
            {Object.entries(step.result.summary)
              .filter(([, value]) => value > 0)
              .map(([outcome, value]) => `${value} ${outcome}`)
              .join(', ') || 'nothing matched'}
            .
          </p>
          <table>
            <tbody>
              {step.result.results.map((result) => (
                <tr key={result.id} data-job-id={result.id} data-outcome={result.outcome}>
                  <td>
                    <Link to={href(`/jobs/${result.id}`)} class="mono">
                      {result.id.slice(0, 8)}
                    </Link>
                  </td>
                  <td>{result.outcome}</td>
                  <td>{result.status ?? '—'}</td>
                  <td class="muted">{result.detail ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
