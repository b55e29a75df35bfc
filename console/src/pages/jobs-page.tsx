import { useEffect, useState } from 'preact/hooks';
import { BatchSubmit } from '../components/batch-submit.tsx';
import { BulkActions } from '../components/bulk-actions.tsx';
import { LabelList, StatusBadge } from '../components/status-badge.tsx';
import { between, formatDuration, formatTime } from '../format.ts';
import { href, Link, navigate } from '../router.tsx';
import { useSession } from '../session-context.ts';
import { type JobCounts, type JobList, jobStatuses } from '../types.ts';
import { usePolling } from '../use-polling.ts';
import { TextFilter } from '../components/text-filter.tsx';

/** The list filters the page keeps in its address (`/console/jobs?status=failed&label=team=a`). */
const filterKeys = ['status', 'image', 'submittedBy', 'tenant', 'label', 'q'] as const;

function filtersOf(query: URLSearchParams): URLSearchParams {
  const filters = new URLSearchParams();
  for (const key of filterKeys) for (const value of query.getAll(key)) if (value) filters.append(key, value);
  return filters;
}

/** The jobs table: filters and cursor in the query string, refreshed every second. */
export function JobsPage(props: { readonly query: URLSearchParams }) {
  const { api, can } = useSession();
  const filters = filtersOf(props.query);
  const cursor = props.query.get('cursor');
  const listQuery = new URLSearchParams(filters);
  if (cursor) listQuery.set('cursor', cursor);
  listQuery.set('limit', '50');
  // Counts are per status, so they take every filter but the status.
  const countsQuery = new URLSearchParams(filters);
  countsQuery.delete('status');
  const list = usePolling(`jobs?${listQuery}`, (signal) => api.get<JobList>(`/v1/jobs?${listQuery}`, signal));
  const counts = usePolling(`counts?${countsQuery}`, (signal) =>
    api.get<JobCounts>(`/v1/jobs/counts?${countsQuery}`, signal),
  );
  const activeStatus = filters.get('status');
  const withStatus = (status: string | undefined) => {
    const next = new URLSearchParams(filters);
    if (status) next.set('status', status);
    else next.delete('status');
    return href('/jobs', next);
  };
  return (
    <section>
      <h1>Jobs</h1>
      <FilterForm filters={filters} isAdmin={can('admin')} />
      <nav class="counts" data-testid="counts">
        <Link to={withStatus(undefined)} class={activeStatus ? '' : 'active'}>
          all <span data-count="total">{counts.value?.total ?? '…'}</span>
        </Link>
        {jobStatuses.map((status) => (
          <Link key={status} to={withStatus(status)} class={activeStatus === status ? 'active' : ''}>
            {status} <span data-count={status}>{counts.value?.counts[status] ?? '…'}</span>
          </Link>
        ))}
      </nav>
      <BulkActions filters={filters} />
      <BatchSubmit />
      {list.error && (
        <p class="error" role="alert">
          {list.error.message}
        </p>
      )}
      <table class="jobs" data-testid="jobs-table">
        <thead>
          <tr>
            <th>job</th>
            <th>status</th>
            <th>image</th>
            <th>command</th>
            <th>labels</th>
            <th>attempt</th>
            <th>submitted</th>
            <th>by</th>
            <th>ran</th>
            <th>exit</th>
          </tr>
        </thead>
        <tbody>
          {(list.value?.jobs ?? []).map((job) => (
            <tr key={job.id} data-job-id={job.id}>
              <td>
                <Link to={href(`/jobs/${job.id}`)} class="mono">
                  {job.id.slice(0, 8)}
                </Link>
                {job.tenant !== undefined && <span class="muted"> {job.tenant}</span>}
              </td>
              <td>
                <StatusBadge status={job.status} />
              </td>
              <td class="mono">{job.image}</td>
              <td class="mono command">{job.command ?? '—'}</td>
              <td>
                <LabelList labels={job.labels} />
              </td>
              <td>{job.attempt}</td>
              <td>{formatTime(job.submittedAt)}</td>
              <td>{job.submittedBy ?? '—'}</td>
              <td>{formatDuration(between(job.startedAt, job.finishedAt))}</td>
              <td>{job.exitCode ?? '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.value && list.value.jobs.length === 0 && <p class="muted">No job matches.</p>}
      <nav class="pages">
        {cursor && <Link to={href('/jobs', filters)}>⇤ newest</Link>}
        {list.value?.nextCursor && (
          <Link to={href('/jobs', new URLSearchParams([...filters, ['cursor', list.value.nextCursor]]))}>older →</Link>
        )}
      </nav>
    </section>
  );
}

function FilterForm(props: { readonly filters: URLSearchParams; readonly isAdmin: boolean }) {
  const [status, setStatus] = useState(props.filters.get('status') ?? '');
  const [image, setImage] = useState(props.filters.get('image') ?? '');
  const [labels, setLabels] = useState(props.filters.getAll('label').join(' '));
  const [tenant, setTenant] = useState(props.filters.get('tenant') ?? '');
  const [search, setSearch] = useState(props.filters.get('q') ?? '');
  // A link or back/forward changes the filters under the form: show what the page lists.
  const key = props.filters.toString();
  useEffect(() => {
    setStatus(props.filters.get('status') ?? '');
    setImage(props.filters.get('image') ?? '');
    setLabels(props.filters.getAll('label').join(' '));
    setTenant(props.filters.get('tenant') ?? '');
    setSearch(props.filters.get('q') ?? '');
  }, [key]);
  const submit = (event: Event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    if (status) next.set('status', status);
    if (image.trim()) next.set('image', image.trim());
    for (const label of labels.split(/[\s,]+/).filter(Boolean)) next.append('label', label);
    if (props.isAdmin && tenant.trim()) next.set('tenant', tenant.trim());
    if (search.trim()) next.set('q', search.trim());
    const submittedBy = props.filters.get('submittedBy');
    if (submittedBy) next.set('submittedBy', submittedBy);
    navigate(href('/jobs', next));
  };
  return (
    <form class="filters" onSubmit={submit} data-testid="filters">
      <label>
        status
        <select name="status" value={status} onChange={(event) => setStatus(event.currentTarget.value)}>
          <option value="">any</option>
          {jobStatuses.map((value) => (
            <option key={value} value={value}>
              {value}
            </option>
          ))}
        </select>
      </label>
      <TextFilter label="image" name="image" value={image} onInput={setImage} />
      <TextFilter label="labels" name="label" placeholder="key=value key2=value2" value={labels} onInput={setLabels} />
      <TextFilter label="search" name="q" placeholder="words in the command or labels" value={search} onInput={setSearch} />
      {props.isAdmin && <TextFilter label="tenant" name="tenant" value={tenant} onInput={setTenant} />}
      <button type="submit">Filter</button>
    </form>
  );
}
