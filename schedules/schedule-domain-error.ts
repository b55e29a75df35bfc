/** A command the schedule's current state refuses; `code` is stable and maps to an HTTP status. */
export class ScheduleDomainError extends Error {
  readonly code: 'schedule-exists' | 'schedule-not-found';
  constructor(code: ScheduleDomainError['code'], message: string) {
    super(message);
    this.name = 'ScheduleDomainError';
    this.code = code;
  }
}
