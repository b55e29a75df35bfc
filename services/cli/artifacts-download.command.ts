import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import type { ApiClient } from './api-client.ts';
import type { Output } from './output.ts';

export interface ArtifactsDownloadOptions {
  readonly jobId: string;
  /** Directory the files are written under; default the current one. */
  readonly directory: string;
  readonly json: boolean;
}

interface ArtifactView {
  readonly attempt: number;
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  readonly links: { readonly content: string };
}

/**
 * `omni artifacts download JOB`: writes the artifacts of the job's latest attempt that left any
 * under the directory (`/out/a/b.txt` → `DIR/a/b.txt`), each checked against the SHA-256 the log
 * recorded; exit 1 if any does not match.
 */
export async function runArtifactsDownload(
  client: ApiClient,
  options: ArtifactsDownloadOptions,
  out: Output,
): Promise<number> {
  const job = await client.json<{ artifacts?: ArtifactView[] }>(
    `/v1/jobs/${encodeURIComponent(options.jobId)}`,
  );
  const artifacts = job.artifacts ?? [];
  const latest = Math.max(0, ...artifacts.map((artifact) => artifact.attempt));
  const root = resolve(options.directory);
  let failures = 0;
  for (const artifact of artifacts.filter((entry) => entry.attempt === latest)) {
    const target = resolve(root, artifact.path.replace(/^\/out\//, ''));
    // The path came through the API from the log; it is still checked before anything is written.
    if (relative(root, target).startsWith('..') || target === root) {
      out.write(`✗ ${artifact.path}: not a path under /out; skipped\n`);
      failures += 1;
      continue;
    }
    const bytes = await client.bytes(artifact.links.content);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const ok = sha256 === artifact.sha256;
    if (ok) {
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, bytes);
    } else failures += 1;
    const shown = join(options.directory, relative(root, target));
    out.write(
      options.json
        ? `${JSON.stringify({ path: artifact.path, file: shown, size: bytes.length, sha256, ok })}\n`
        : ok
          ? `✓ ${artifact.path} → ${shown} (${bytes.length} bytes)\n`
          : `✗ ${artifact.path}: SHA-256 ${sha256} does not match the log's ${artifact.sha256}; not written\n`,
    );
  }
  if (artifacts.length === 0 && !options.json) out.write('the job has no artifacts\n');
  return failures === 0 ? 0 : 1;
}
