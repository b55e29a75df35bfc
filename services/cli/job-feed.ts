import { type ApiClient, cliErrorOf } from './api-client.ts';

/** A job's event as the API's job feeds send it. */
export interface JobEventView {
  readonly streamVersion: number;
  readonly type: string;
  readonly recordedAt: string;
  readonly data: Record<string, unknown>;
}

/** The job view the CLI reads after a feed ends (GET /v1/jobs/:id). */
export interface JobView {
  readonly id: string;
  readonly status: string;
  readonly attempt?: number;
  readonly exitCode: number | null;
  readonly stdout: string | null;
  readonly stderr: string | null;
  readonly [field: string]: unknown;
}

/**
 * A job's events from its watch feed, history first, then live, until it finishes. A dropped
 * connection resumes after the last version received (the route's `afterVersion`).
 */
export async function* jobEvents(
  client: ApiClient,
  jobId: string,
  signal?: AbortSignal,
): AsyncGenerator<JobEventView> {
  try {
    for await (const { event, data } of client.omni.watchJob(jobId, signal)) {
      if (event === 'end') return;
      yield JSON.parse(data) as JobEventView;
    }
  } catch (error) {
    throw cliErrorOf(error);
  }
}

export const getJob = async (client: ApiClient, jobId: string): Promise<JobView> =>
  (await client.call(client.omni.api.GET('/v1/jobs/{id}', { params: { path: { id: jobId } } }))) as JobView;

/** The CLI's exit code for a finished job: 0 when it succeeded, its own exit code, else 1. */
export function jobExitCode(job: JobView): number {
  if (job.status === 'succeeded') return 0;
  return job.exitCode !== null && job.exitCode > 0 && job.exitCode <= 255 ? job.exitCode : 1;
}
