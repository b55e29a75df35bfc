/** A command the job's current state refuses; `code` is stable and maps to an HTTP status. */
export class JobDomainError extends Error {
  readonly code:
    | 'job-exists'
    | 'job-not-found'
    | 'attempt-not-startable'
    | 'attempt-not-running'
    | 'job-finished'
    | 'job-not-retryable';
  constructor(code: JobDomainError['code'], message: string) {
    super(message);
    this.name = 'JobDomainError';
    this.code = code;
  }
}
