import type { StreamEvent } from './event-stream.ts';

/** What waitForJob needs of the client: the job's watch feed, and the job once it ended. */
export interface JobWaitSource<Job> {
  readonly watch: (jobId: string, signal?: AbortSignal) => AsyncIterable<StreamEvent>;
  readonly getJob: (jobId: string) => Promise<Job>;
}

export interface WaitForJobOptions {
  readonly signal?: AbortSignal;
  /** Each of the job's events as it comes (history first): type, stream version, data. */
  readonly onEvent?: (event: {
    readonly type: string;
    readonly streamVersion: number;
    readonly data: unknown;
  }) => void;
}

/**
 * Follows a job's watch feed (its events, history then live, resumed after a dropped connection)
 * until the job is finished, then answers the finished job as GET /v1/jobs/{id} shows it.
 */
export async function waitForJob<Job>(
  source: JobWaitSource<Job>,
  jobId: string,
  options: WaitForJobOptions = {},
): Promise<Job> {
  for await (const { event, data } of source.watch(jobId, options.signal)) {
    if (event === 'end') break;
    if (options.onEvent) {
      const parsed = JSON.parse(data) as { type: string; streamVersion: number; data: unknown };
      options.onEvent({ type: parsed.type, streamVersion: parsed.streamVersion, data: parsed.data });
    }
  }
  options.signal?.throwIfAborted();
  return await source.getJob(jobId);
}
