import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from './cli-context.ts';
import { fileError } from './cli-error.ts';
import { formatTable } from './table.ts';

interface ArtifactView {
  readonly attempt: number;
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  readonly fileId: string;
  readonly links: { readonly content: string };
}

const artifactsOf = async (context: CliContext, jobId: string): Promise<readonly ArtifactView[]> => {
  const client = context.client();
  const job = await client.call(client.omni.api.GET('/v1/jobs/{id}', { params: { path: { id: jobId } } }));
  return job.artifacts ?? [];
};

/** The artifacts of the latest attempt that left any. */
const latestOf = (artifacts: readonly ArtifactView[]) => {
  const latest = Math.max(0, ...artifacts.map((artifact) => artifact.attempt));
  return artifacts.filter((artifact) => artifact.attempt === latest);
};

async function listArtifacts(context: CliContext, jobId: string, json: boolean): Promise<number> {
  const artifacts = await artifactsOf(context, jobId);
  if (json) context.out.write(`${JSON.stringify({ artifacts })}\n`);
  else
    context.out.write(
      formatTable(
        ['ATTEMPT', 'SIZE', 'FILE', 'SHA256', 'PATH'],
        artifacts.map((artifact) => [
          String(artifact.attempt),
          String(artifact.size),
          artifact.fileId,
          artifact.sha256,
          artifact.path,
        ]),
      ),
    );
  return 0;
}

/**
 * `omni artifacts download JOB`: writes the latest attempt's artifacts under the directory
 * (`/out/a/b.txt` → `DIR/a/b.txt`), each checked against the SHA-256 the log recorded. stdout
 * lists the files written; exit 1 if any did not match (it is not written).
 */
async function downloadArtifacts(
  context: CliContext,
  jobId: string,
  options: { dir: string; json?: boolean },
): Promise<number> {
  const artifacts = latestOf(await artifactsOf(context, jobId));
  const root = resolve(options.dir);
  let failures = 0;
  for (const artifact of artifacts) {
    const target = resolve(root, artifact.path.replace(/^\/out\//, ''));
    // The path came through the API from the log; it is still checked before anything is written.
    if (relative(root, target).startsWith('..') || target === root) {
      context.err.write(`omni: ${artifact.path}: not a path under /out; skipped\n`);
      failures += 1;
      continue;
    }
    const bytes = await context.client().bytes(artifact.links.content);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const ok = sha256 === artifact.sha256;
    const shown = join(options.dir, relative(root, target));
    if (ok) {
      await mkdir(dirname(target), { recursive: true })
        .then(() => writeFile(target, bytes))
        .catch((error: unknown) => {
          throw fileError(shown, error);
        });
    } else {
      failures += 1;
      context.err.write(
        `omni: ${artifact.path}: SHA-256 ${sha256} does not match the log's ${artifact.sha256}; not written\n`,
      );
    }
    if (options.json)
      context.out.write(
        `${JSON.stringify({ path: artifact.path, file: shown, size: bytes.length, sha256, ok })}\n`,
      );
    else if (ok) context.out.write(`${shown}\n`);
  }
  if (artifacts.length === 0) context.err.write(`omni: job ${jobId} has no artifacts\n`);
  return failures === 0 ? 0 : 1;
}

export function registerArtifactsCommands(program: Command, context: CliContext): void {
  const artifacts = program
    .command('artifacts')
    .summary('list and download the files a job left under /out')
    .description(
      "The files a job left under /out (declared by submit --output), kept with the log's SHA-256.",
    )
    .addHelpText(
      'after',
      '\nExamples:\n  omni artifacts list 8f0c…\n  omni artifacts download 8f0c… --dir results/',
    );
  artifacts
    .command('list')
    .description("a job's artifacts, every attempt's")
    .argument('<job-id>')
    .option('--json', 'print them as JSON')
    .addHelpText('after', '\nExamples:\n  omni artifacts list 8f0c… --json')
    .action(async (id: string, options: { json?: boolean }) => {
      context.exitCode = await listArtifacts(context, id, options.json === true);
    });
  artifacts
    .command('download')
    .description(
      "write the latest attempt's artifacts under DIR, each checked against the log's SHA-256; prints the files written",
    )
    .argument('<job-id>')
    .option('--dir <DIR>', 'where to write them', '.')
    .option('--json', 'print one JSON line per artifact')
    .addHelpText('after', '\nExamples:\n  omni artifacts download 8f0c… --dir results/')
    .action(async (id: string, options: { dir: string; json?: boolean }) => {
      context.exitCode = await downloadArtifacts(context, id, options);
    });
}
