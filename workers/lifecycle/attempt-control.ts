/** Why this worker stopped a run before it ended on its own. */
export type StopReason = 'cancelled' | 'shutdown';

export interface RunHandle {
  readonly signal: AbortSignal;
  /** Set once the run was stopped; undefined while it runs or when it ended on its own. */
  stoppedBecause(): StopReason | undefined;
  end(): void;
}

/** The attempts running in this worker process, each with the switch that kills its container. */
export interface AttemptControl {
  begin(jobId: string, attempt: number): RunHandle;
  /** Stops the run of this job, if it runs here. */
  stop(jobId: string, reason: StopReason): boolean;
  /** Stops every run, and every run begun from now on at once: nothing outlives a shutdown's grace. */
  stopAll(reason: StopReason): void;
  runningJobIds(): readonly string[];
}

export function createAttemptControl(): AttemptControl {
  const runs = new Map<string, { controller: AbortController; reason?: StopReason }>();
  // Set by stopAll: an attempt whose start was being recorded as the grace ran out must not run on.
  let closedBecause: StopReason | undefined;
  return {
    begin(jobId) {
      const entry: { controller: AbortController; reason?: StopReason } = {
        controller: new AbortController(),
      };
      runs.set(jobId, entry);
      if (closedBecause) this.stop(jobId, closedBecause);
      return {
        signal: entry.controller.signal,
        stoppedBecause: () => entry.reason,
        end: () => {
          if (runs.get(jobId) === entry) runs.delete(jobId);
        },
      };
    },
    stop(jobId, reason) {
      const entry = runs.get(jobId);
      if (!entry || entry.reason) return false;
      entry.reason = reason;
      entry.controller.abort(reason);
      return true;
    },
    stopAll(reason) {
      closedBecause = reason;
      for (const jobId of [...runs.keys()]) this.stop(jobId, reason);
    },
    runningJobIds: () => [...runs.keys()],
  };
}
