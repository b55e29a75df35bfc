/** One field's complaint in a 400, with a JSON Pointer to it (`/limits/memoryBytes`). */
export interface FieldError {
  readonly pointer: string;
  readonly detail: string;
}

/** An RFC 9457 problem as the API sends it; `code` is stable and a client may branch on it. */
export interface Problem {
  readonly type?: string;
  readonly title?: string;
  readonly status?: number;
  readonly code?: string;
  readonly detail?: string;
  readonly instance?: string;
  readonly requestId?: string;
  readonly errors?: readonly FieldError[];
}

/** The API refused a request: its status, its problem's stable code and, for a 400, every field's complaint. */
export class OmniProblemError extends Error {
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly errors: readonly FieldError[];
  /** The problem as sent (requestId, instance, …); a body that was not a problem leaves only a title. */
  readonly problem: Problem;
  constructor(status: number, problem: Problem) {
    const fields = problem.errors?.map((error) => `${error.pointer}: ${error.detail}`).join('; ');
    super([problem.detail ?? problem.title ?? `HTTP ${status}`, fields].filter(Boolean).join(' — '));
    this.name = 'OmniProblemError';
    this.status = status;
    this.code = problem.code ?? `http-${status}`;
    this.title = problem.title ?? `the API answered ${status}`;
    this.errors = problem.errors ?? [];
    this.problem = problem;
  }
}

/** The API could not be reached at all (refused, reset, unknown host): no answer to read. */
export class OmniUnreachableError extends Error {
  readonly url: string;
  constructor(url: string, cause: unknown) {
    super(`cannot reach the API at ${url}`, { cause });
    this.name = 'OmniUnreachableError';
    this.url = url;
  }
}

/** Reads a refusal's body: a problem when it is one, else a problem made of what came (a proxy's page). */
export async function problemOf(response: Response): Promise<OmniProblemError> {
  const text = await response.text().catch(() => '');
  let problem: Problem = {};
  if (text) {
    try {
      const parsed = JSON.parse(text) as unknown;
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) problem = parsed as Problem;
    } catch {
      problem = { title: `the API answered ${response.status}`, detail: text.slice(0, 200) };
    }
  }
  return new OmniProblemError(response.status, problem);
}
