import type { CliContext } from './cli-context.ts';
import { getJob } from './job-feed.ts';

interface OutputChunk {
  readonly version: number;
  readonly attempt: number;
  readonly stream: 'stdout' | 'stderr';
  readonly text: string;
}

/**
 * `omni jobs logs JOB`: the output recorded so far, each chunk on the stream it came from; with
 * --follow, the live feed (a dropped connection resumes after the last chunk, by Last-Event-ID).
 */
export async function runJobLogs(
  context: CliContext,
  jobId: string,
  options: { follow?: boolean; json?: boolean },
): Promise<number> {
  const client = context.client();
  const path = `/v1/jobs/${encodeURIComponent(jobId)}/output`;
  const print = (chunk: OutputChunk) => {
    if (options.json) context.out.write(`${JSON.stringify(chunk)}\n`);
    else (chunk.stream === 'stderr' ? context.err : context.out).write(chunk.text);
  };
  if (!options.follow) {
    const { chunks, finished } = await client.json<{ chunks: OutputChunk[]; finished: boolean }>(path);
    for (const chunk of chunks) print(chunk);
    if (finished && !options.json) await printRemainder(context, jobId, chunks);
    return 0;
  }
  for await (const { event, data } of client.events(`${path}?follow=1`)) {
    if (event === 'output') print(JSON.parse(data) as OutputChunk);
  }
  return 0;
}

/**
 * Past the live-output cap an attempt's chunks stop and the rest arrives with its outcome: print
 * what the last attempt's outcome holds beyond the chunks it sent.
 */
async function printRemainder(context: CliContext, jobId: string, chunks: readonly OutputChunk[]) {
  const job = await getJob(context.client(), jobId);
  const attempt = job.attempt ?? 0;
  for (const stream of ['stdout', 'stderr'] as const) {
    const live = chunks
      .filter((chunk) => chunk.attempt === attempt && chunk.stream === stream)
      .map((chunk) => chunk.text)
      .join('');
    const final = job[stream] ?? '';
    if (final.length > live.length && final.startsWith(live))
      (stream === 'stderr' ? context.err : context.out).write(final.slice(live.length));
  }
}
