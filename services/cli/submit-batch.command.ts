import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import {
  AtomicBatchTooLargeError,
  type BatchJobResult,
  maxJobsPerBatch,
  OmniProblemError,
  readJobLines,
} from '../../client/index.ts';
import type { CliContext } from './cli-context.ts';
import { CliError, fileError, usageError } from './cli-error.ts';
import { exitCodes } from './exit-codes.ts';
import { paint } from './output.ts';

interface SubmitBatchOptions {
  readonly atomic?: boolean;
  readonly json?: boolean;
}

const readSource = (path: string): string => {
  try {
    return readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (error) {
    throw fileError(path === '-' ? 'stdin' : path, error);
  }
};

/** `/jobs/3/image` of job 3 → `/image`: the refusal line names the file's line instead. */
const withinJob = (pointer: string): string => pointer.replace(/^\/jobs\/\d+/, '') || '/';

/** `line 4: refused: validation-failed: one or more fields are invalid (/image: not on the allowlist)`. */
function refusalLine(line: number, problem: BatchJobResult['problem']): string {
  const fields = (problem?.errors ?? []).map((error) => `${withinJob(error.pointer)}: ${error.detail}`);
  const text = `line ${line}: refused: ${problem?.code ?? 'refused'}: ${problem?.detail ?? ''}${fields.length > 0 ? ` (${fields.join(', ')})` : ''}`;
  return text.replace(/\s*[\r\n]+\s*/g, ' ');
}

/**
 * An atomic batch refused whole: the API's problem, its pointers naming the file's lines
 * (`line 4 /image`), and the refused exit code whatever the status, as a refused job has.
 */
function atomicRefusal(error: OmniProblemError, lines: readonly number[]): CliError {
  return new CliError(
    {
      ...error.problem,
      title: error.title,
      code: error.code,
      errors: error.errors.map((field) => {
        const at = /^\/jobs\/(\d+)(.*)$/.exec(field.pointer);
        const line = at ? lines[Number(at[1])] : undefined;
        return line === undefined
          ? field
          : { pointer: `line ${line}${at?.[2] ? ` ${at[2]}` : ''}`, detail: field.detail };
      }),
    },
    exitCodes.refused,
  );
}

/**
 * `omni jobs submit-batch FILE`: one job spec per line (JSON Lines), submitted 1,000 a request.
 * Prints a line per job in the file's order (its id and outcome, or the refusal naming the line);
 * exits 0 when every job was queued or replayed, 3 when any was refused.
 */
export async function runSubmitBatch(
  context: CliContext,
  path: string,
  options: SubmitBatchOptions,
): Promise<number> {
  const source = path === '-' ? 'stdin' : path;
  const { jobs, errors } = readJobLines(readSource(path));
  if (errors.length > 0)
    throw usageError(
      `${source}: ${errors.length === 1 ? 'a line is' : `${errors.length} lines are`} not JSON, so no job was sent`,
      errors.map((error) => ({ pointer: `line ${error.line}`, detail: error.detail })),
    );
  if (jobs.length === 0) throw usageError(`${source}: no job in it (one JSON job spec per line)`);
  const lines = jobs.map((entry) => entry.line);
  const counts = { queued: 0, replayed: 0, refused: 0 };
  // Printed as each request is answered, so a later request's failure leaves the earlier ids on stdout.
  const print = (results: readonly BatchJobResult[]) => {
    for (const result of results) {
      counts[result.outcome] += 1;
      const line = lines[result.index] ?? result.index + 1;
      if (options.json) context.out.write(`${JSON.stringify({ line, ...result })}\n`);
      else if (result.outcome === 'refused') context.out.write(`${refusalLine(line, result.problem)}\n`);
      else
        context.out.write(
          `${result.id} ${paint(context.out, result.outcome === 'queued' ? 'yellow' : 'cyan', result.outcome)}\n`,
        );
    }
  };
  const client = context.client();
  try {
    await client.omni.submitJobs(
      jobs.map((entry) => entry.job),
      { atomic: options.atomic === true, onBatch: print },
    );
  } catch (error) {
    if (error instanceof AtomicBatchTooLargeError)
      throw usageError(
        `${source}: ${error.jobs} jobs, and --atomic holds for at most ${maxJobsPerBatch} (one request): split the file, or leave out --atomic`,
      );
    if (error instanceof OmniProblemError && error.code === 'batch-refused')
      throw atomicRefusal(error, lines);
    throw error;
  }
  if (!options.json)
    context.err.write(
      `omni: ${counts.queued} queued, ${counts.replayed} replayed, ${counts.refused} refused\n`,
    );
  return counts.refused > 0 ? exitCodes.refused : exitCodes.ok;
}

export function registerSubmitBatchCommand(jobs: Command, context: CliContext): void {
  jobs
    .command('submit-batch')
    .description(
      `submit many jobs from FILE (- for stdin): one job spec per line as JSON, the body POST /v1/jobs takes, each with an optional "idempotencyKey". Prints a line per job in the file's order: "<id> queued", "<id> replayed" (its key named that job already) or "line N: refused: <code>: <detail>"; exits 3 when any was refused. A line that is not JSON stops it before anything is sent (exit 2).`,
    )
    .argument('<file>', 'JSON Lines, one job spec per line (- reads stdin)')
    .option(
      '--atomic',
      `all or nothing: any refused job refuses them all and none is submitted (at most ${maxJobsPerBatch} jobs)`,
    )
    .option('--json', 'print each result as a JSON line: { line, index, outcome, id, links, problem }')
    .addHelpText(
      'after',
      `
Jobs are sent ${maxJobsPerBatch} a request; without --atomic each job is queued or refused on its own.

Examples:
  omni jobs submit-batch jobs.jsonl              # a line per job: 8f0c… queued, or line 2: refused: …
  omni jobs submit-batch --atomic jobs.jsonl     # none is submitted unless all are
  generate-jobs | omni jobs submit-batch --json - | jq -r 'select(.outcome != "refused") | .id'

jobs.jsonl, one job spec per line:
  {"image":"omni-busybox:latest","command":["echo","a"],"idempotencyKey":"nightly-a"}
  {"image":"omni-busybox:latest","command":["echo","b"],"labels":{"team":"data"}}`,
    )
    .action(async (path: string, options: SubmitBatchOptions) => {
      context.exitCode = await runSubmitBatch(context, path, options);
    });
}
