import type { CliContext } from './cli-context.ts';

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
    const { chunks } = await client.json<{ chunks: OutputChunk[] }>(path);
    for (const chunk of chunks) print(chunk);
    return 0;
  }
  for await (const { event, data } of client.events(`${path}?follow=1`)) {
    if (event === 'output') print(JSON.parse(data) as OutputChunk);
  }
  return 0;
}
