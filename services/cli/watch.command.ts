import type { ApiClient } from './api-client.ts';
import { eventStyle, type Output, paint, statusStyle } from './output.ts';

export interface WatchOptions {
  readonly jobId: string;
  readonly json: boolean;
}

interface EventView {
  readonly streamVersion: number;
  readonly type: string;
  readonly recordedAt: string;
  readonly data: Record<string, unknown>;
}

function describe(event: EventView): string {
  const { data } = event;
  switch (event.type) {
    case 'JobOutput':
      return String(data.text ?? '');
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

/** `omni watch JOB`: prints the job's events as they happen (JSON lines with --json); exits with the job's exit code. */
export async function runWatch(client: ApiClient, options: WatchOptions, out: Output): Promise<number> {
  for await (const { event, data } of client.events(`/v1/jobs/${options.jobId}/watch`)) {
    if (event === 'end') break;
    const view = data as EventView;
    if (options.json) out.write(`${JSON.stringify(view)}\n`);
    else
      out.write(
        `${paint(out, 'dim', view.recordedAt)} ${paint(out, eventStyle(view.type), view.type.padEnd(20))} ${describe(view).trimEnd()}\n`,
      );
  }
  const job = await client.json<{
    status: string;
    exitCode: number | null;
    stdout: string | null;
    stderr: string | null;
  }>(`/v1/jobs/${options.jobId}`);
  if (options.json) out.write(`${JSON.stringify(job)}\n`);
  else {
    if (job.stdout) out.write(job.stdout);
    if (job.stderr) out.write(paint(out, 'red', job.stderr));
    out.write(
      `${paint(out, statusStyle(job.status), job.status)}${job.exitCode === null ? '' : ` (exit ${job.exitCode})`}\n`,
    );
  }
  if (job.status === 'succeeded') return 0;
  return job.exitCode !== null && job.exitCode > 0 ? Math.min(job.exitCode, 125) : 1;
}
