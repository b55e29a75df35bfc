import { useState } from 'preact/hooks';
import { type BatchJobResult, readJobLines } from '../../../client/index.ts';
import { ApiError } from '../api.ts';
import { href, Link } from '../router.tsx';
import { useSession } from '../session-context.ts';

type Step =
  | { readonly name: 'idle' }
  | { readonly name: 'sending'; readonly count: number }
  | { readonly name: 'done'; readonly results: readonly BatchJobResult[]; readonly lines: readonly number[] }
  | { readonly name: 'failed'; readonly message: string; readonly details: readonly string[] };

const example = '{"image":"omni-busybox:latest","command":["echo","hello"],"idempotencyKey":"optional"}';

/** `/jobs/3/image` of the fourth job → `line 7 /image`: what the operator finds in the text. */
function onLine(pointer: string, lines: readonly number[]): string {
  const at = /^\/jobs\/(\d+)(.*)$/.exec(pointer);
  const line = at ? lines[Number(at[1])] : undefined;
  return line === undefined ? pointer : `line ${line}${at?.[2] ? ` ${at[2]}` : ''}`;
}

function refusal(problem: BatchJobResult['problem']): string {
  if (!problem) return '';
  const fields = (problem.errors ?? []).map((error) => `${error.pointer.replace(/^\/jobs\/\d+/, '') || '/'}: ${error.detail}`);
  return `${problem.code}: ${problem.detail}${fields.length > 0 ? ` (${fields.join(', ')})` : ''}`;
}

/**
 * Submit many jobs at once: one job spec per line (JSON Lines, the body POST /v1/jobs takes, with
 * an optional idempotencyKey), typed or read from a file; atomic submits all or none. Every job's
 * outcome is listed in the order given, its id linking to its page.
 */
export function BatchSubmit() {
  const { api, can } = useSession();
  const [text, setText] = useState('');
  const [atomic, setAtomic] = useState(false);
  const [step, setStep] = useState<Step>({ name: 'idle' });
  if (!can('jobs:submit')) return null;

  const readFile = async (event: Event) => {
    const file = (event.currentTarget as HTMLInputElement).files?.[0];
    if (file) setText(await file.text());
  };
  const submit = async (event: Event) => {
    event.preventDefault();
    const { jobs, errors } = readJobLines(text);
    // Nothing is sent while a line is not JSON: the operator mends the text first.
    if (errors.length > 0) {
      setStep({
        name: 'failed',
        message: 'Nothing was sent: these lines are not JSON.',
        details: errors.map((error) => `line ${error.line}: ${error.detail}`),
      });
      return;
    }
    if (jobs.length === 0) {
      setStep({ name: 'failed', message: 'No job to submit: write one job spec per line.', details: [] });
      return;
    }
    const lines = jobs.map((entry) => entry.line);
    setStep({ name: 'sending', count: jobs.length });
    try {
      const results = await api.submitJobs(
        jobs.map((entry) => entry.job),
        { atomic },
      );
      setStep({ name: 'done', results, lines });
    } catch (error) {
      setStep({
        name: 'failed',
        message:
          error instanceof ApiError
            ? (error.problem.detail ?? error.title)
            : error instanceof Error
              ? error.message
              : String(error),
        details:
          error instanceof ApiError
            ? error.errors.map((field) => `${onLine(field.pointer, lines)}: ${field.detail}`)
            : [],
      });
    }
  };
  const count = (outcome: BatchJobResult['outcome']) =>
    step.name === 'done' ? step.results.filter((result) => result.outcome === outcome).length : 0;

  return (
    <details class="batch" data-testid="batch-submit">
      <summary>Submit jobs</summary>
      <form onSubmit={submit}>
        <label>
          One job spec per line (JSON Lines, as POST /v1/jobs takes it)
          <textarea
            name="jobs"
            rows={6}
            spellcheck={false}
            placeholder={example}
            value={text}
            onInput={(event) => setText(event.currentTarget.value)}
          />
        </label>
        <div class="actions">
          <input type="file" accept=".jsonl,.ndjson,.json,.txt" aria-label="read jobs from a file" onChange={readFile} />
          <label class="toggle">
            <input type="checkbox" name="atomic" checked={atomic} onChange={(event) => setAtomic(event.currentTarget.checked)} />
            atomic: all or none (at most 1,000 jobs)
          </label>
          <button type="submit" disabled={step.name === 'sending'}>
            Submit
          </button>
        </div>
      </form>
      {step.name === 'sending' && <p role="status">Submitting {step.count} jobs…</p>}
      {step.name === 'failed' && (
        <div class="error" role="alert">
          <p>{step.message}</p>
          {step.details.length > 0 && (
            <ul>
              {step.details.map((detail) => (
                <li key={detail}>{detail}</li>
              ))}
            </ul>
          )}
        </div>
      )}
      {step.name === 'done' && (
        <div data-testid="batch-result">
          <p>
            {count('queued')} queued, {count('replayed')} replayed, {count('refused')} refused.
          </p>
          <table>
            <thead>
              <tr>
                <th>index</th>
                <th>line</th>
                <th>outcome</th>
                <th>job</th>
                <th>refusal</th>
              </tr>
            </thead>
            <tbody>
              {step.results.map((result) => (
                <tr key={result.index} data-index={result.index} data-outcome={result.outcome}>
                  <td>{result.index}</td>
                  <td>{step.lines[result.index] ?? '—'}</td>
                  <td>{result.outcome}</td>
                  <td>
                    {result.id ? (
                      <Link to={href(`/jobs/${result.id}`)} class="mono">
                        {result.id}
                      </Link>
                    ) : (
                      '—'
                    )}
                  </td>
                  <td class="muted">{refusal(result.problem)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </details>
  );
}
