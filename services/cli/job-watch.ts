import type { CliContext } from './cli-context.ts';
import { getJob, type JobEventView, jobEvents, jobExitCode } from './job-feed.ts';
import { eventStyle, paint, statusStyle } from './output.ts';

/** One event in a line of text: what a person wants to see of it. */
export function describeJobEvent(event: JobEventView): string {
  const { data } = event;
  switch (event.type) {
    case 'JobOutput':
      return `${String(data.stream)}: ${JSON.stringify(String(data.text ?? ''))}`;
    case 'JobFailed':
      return `reason=${String(data.reason)} exitCode=${String(data.exitCode)}`;
    case 'JobSucceeded':
      return `exitCode=${String(data.exitCode)} durationMs=${String(data.durationMs)}`;
    case 'JobStarted':
      return `attempt=${String(data.attempt)} worker=${String(data.workerId)}`;
    case 'ArtifactStored':
      return `${String(data.path)} size=${String(data.size)} sha256=${String(data.sha256).slice(0, 12)}… file=${String(data.fileId)}`;
    case 'ArtifactRefused':
      return `${String(data.path)} reason=${String(data.reason)}${data.detail ? ` (${String(data.detail)})` : ''}`;
    default:
      return '';
  }
}

/** `version  time  type  what` for people. */
export const jobEventLine = (context: CliContext, event: JobEventView): string =>
  `${paint(context.out, 'dim', String(event.streamVersion).padStart(4))} ${paint(context.out, 'dim', event.recordedAt)} ${paint(context.out, eventStyle(event.type), event.type.padEnd(20))} ${describeJobEvent(event)}`.trimEnd();

/**
 * `omni jobs watch JOB`: the job's events as they happen (history first), one line each or JSON
 * lines; a dropped feed resumes after the last version seen. Exits like the job.
 */
export async function runJobWatch(context: CliContext, jobId: string, json: boolean): Promise<number> {
  const client = context.client();
  for await (const event of jobEvents(client, jobId)) {
    context.out.write(json ? `${JSON.stringify(event)}\n` : `${jobEventLine(context, event)}\n`);
  }
  const job = await getJob(client, jobId);
  if (!json)
    context.err.write(
      `omni: job ${jobId} ${paint(context.err, statusStyle(job.status), job.status)}${job.exitCode === null ? '' : ` (exit ${job.exitCode})`}\n`,
    );
  return jobExitCode(job);
}
