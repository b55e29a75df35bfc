/** The stream was not at the version the writer decided on: someone else wrote first. */
export class ConcurrencyError extends Error {
  readonly code = 'concurrency-conflict';
  readonly streamId: string;
  readonly expectedVersion: number | null;
  readonly actualVersion: number;
  constructor(streamId: string, expectedVersion: number | null, actualVersion: number) {
    super(`stream ${streamId} is at version ${actualVersion}, expected ${expectedVersion}`);
    this.name = 'ConcurrencyError';
    this.streamId = streamId;
    this.expectedVersion = expectedVersion;
    this.actualVersion = actualVersion;
  }
}

/** An append retried with some, but not all, of its event ids already stored. */
export class PartialDuplicateError extends Error {
  readonly code = 'partial-duplicate-append';
  constructor(streamId: string) {
    super(`some events of this append to ${streamId} were already stored`);
    this.name = 'PartialDuplicateError';
  }
}
