import type { ApiClient } from './api-client.ts';
import { type Output, paint, statusStyle } from './output.ts';
import { runWatch } from './watch.command.ts';

export interface SubmitOptions {
  readonly image: string;
  readonly command: readonly string[];
  readonly timeoutMs?: number;
  /** Uploaded files placed under /tmp: `{ file: id, path }`. */
  readonly inputs?: readonly { readonly file: string; readonly path: string }[];
  /** Patterns under /out collected as artifacts. */
  readonly outputs?: readonly string[];
  /** Follow the job until it finishes, then exit with its exit code. */
  readonly wait: boolean;
  readonly json: boolean;
}

/** `omni submit IMAGE -- CMD...`: submits a job; with --wait, watches it and exits like the job did. */
export async function runSubmit(client: ApiClient, options: SubmitOptions, out: Output): Promise<number> {
  const accepted = await client.json<{ id: string; status: string }>('/v1/jobs', {
    method: 'POST',
    body: {
      image: options.image,
      command: options.command,
      ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.inputs ? { inputs: options.inputs } : {}),
      ...(options.outputs ? { outputs: options.outputs } : {}),
    },
  });
  if (!options.wait) {
    out.write(
      options.json
        ? `${JSON.stringify(accepted)}\n`
        : `${accepted.id} ${paint(out, statusStyle(accepted.status), accepted.status)}\n`,
    );
    return 0;
  }
  return runWatch(client, { jobId: accepted.id, json: options.json }, out);
}
