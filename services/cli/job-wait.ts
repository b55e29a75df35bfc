import type { CliContext } from './cli-context.ts';
import { getJob, jobEvents, jobExitCode } from './job-feed.ts';
import { paint, statusStyle } from './output.ts';
import { createProgressLine } from './progress-line.ts';

/** The status an event moves a job to, for the live status line. */
const statusAfter: Readonly<Record<string, string>> = {
  JobSubmitted: 'queued',
  JobStarted: 'running',
  JobSucceeded: 'succeeded',
  JobFailed: 'failed',
  JobCancelled: 'cancelled',
  JobExpired: 'expired',
  JobAttemptAbandoned: 'abandoned',
  JobRetryScheduled: 'waiting to retry',
};

/**
 * Follows a job to its end as if it ran here: its stdout on stdout, its stderr on stderr, a live
 * status line on stderr when that is a terminal; returns the job's exit code. With --json, stdout
 * gets one document at the end: the finished job (its output included).
 */
export async function waitForJob(context: CliContext, jobId: string, json: boolean): Promise<number> {
  const { out, err } = context;
  const client = context.client();
  const status = createProgressLine(err);
  const started = Date.now();
  let current = 'queued';
  let attempt = 0;
  // What this attempt printed live, so the end prints only what the live feed did not carry
  // (past the live-output cap the rest arrives with the attempt's outcome).
  let printed = { stdout: '', stderr: '' };
  // The job's output left a line unfinished: a redraw would write over it on the terminal.
  let midLine = false;
  const draw = () => {
    if (midLine) return;
    status.show(
      `${jobId} ${paint(err, statusStyle(current), current)}${attempt > 0 ? ` (attempt ${attempt})` : ''} ${Math.round((Date.now() - started) / 1000)} s`,
    );
  };
  const ticker = err.tty ? setInterval(draw, 1000) : undefined;
  draw();
  try {
    for await (const event of jobEvents(client, jobId)) {
      if (event.type === 'JobOutput' && !json) {
        status.clear();
        const text = String(event.data.text ?? '');
        const stream = event.data.stream === 'stderr' ? 'stderr' : 'stdout';
        (stream === 'stderr' ? err : out).write(text);
        printed[stream] += text;
        if (text !== '') midLine = !text.endsWith('\n');
      }
      if (event.type === 'JobStarted') {
        attempt = Number(event.data.attempt) || attempt + 1;
        printed = { stdout: '', stderr: '' };
      }
      current = statusAfter[event.type] ?? current;
      draw();
    }
  } finally {
    if (ticker) clearInterval(ticker);
    status.clear();
  }
  const job = await getJob(client, jobId);
  if (json) out.write(`${JSON.stringify(job)}\n`);
  else {
    for (const stream of ['stdout', 'stderr'] as const) {
      const final = job[stream] ?? '';
      if (final.length > printed[stream].length && final.startsWith(printed[stream]))
        (stream === 'stderr' ? err : out).write(final.slice(printed[stream].length));
    }
  }
  // The job's own stderr is the stream's content; this note is for a person at a terminal.
  if (!json && err.tty && job.status !== 'succeeded') {
    const reason =
      typeof job.failureReason === 'string'
        ? `: ${job.failureReason}${typeof job.failureMessage === 'string' ? ` (${job.failureMessage})` : ''}`
        : '';
    err.write(
      `omni: job ${jobId} ${job.status}${reason}${job.exitCode === null ? '' : ` (exit ${job.exitCode})`}\n`,
    );
  }
  return jobExitCode(job);
}
