import { type Command, Option } from 'commander';
import type { JobSpec } from '../../client/index.ts';
import type { CliContext } from './cli-context.ts';
import { collect } from './flag-values.ts';
import { waitForJob } from './job-wait.ts';
import { paint, statusStyle } from './output.ts';
import { type SubmitFlags, submitRequest } from './submit-spec.ts';

interface SubmitOptions extends SubmitFlags {
  readonly wait?: boolean;
  readonly json?: boolean;
}

/** `omni submit IMAGE -- CMD...`: prints the job's id; with --wait, runs it as if here and exits like it. */
export async function runSubmit(
  context: CliContext,
  image: string,
  command: readonly string[],
  options: SubmitOptions,
): Promise<number> {
  const request = submitRequest(image, command, options);
  const client = context.client();
  // The API checks the spec the flags built (a 400 names the field); its type is the API's own.
  const accepted = await client.call(
    client.omni.api.POST('/v1/jobs', { body: request.body as JobSpec, headers: request.headers }),
  );
  if (!options.wait) {
    context.out.write(options.json ? `${JSON.stringify(accepted)}\n` : `${accepted.id}\n`);
    return 0;
  }
  // The id goes to stderr: stdout carries the job's own output.
  context.err.write(
    `omni: job ${accepted.id} ${paint(context.err, statusStyle(accepted.status), accepted.status)}\n`,
  );
  return waitForJob(context, accepted.id, options.json === true);
}

export function registerSubmitCommand(program: Command, context: CliContext): void {
  program
    .command('submit')
    .summary('submit a job (prints its id); --wait runs it as if here')
    .description(
      "Submit a job: IMAGE from the allowlist, then the command after --. Prints the job id on stdout (the accepted job as JSON with --json). With --wait, follows the job: its stdout on stdout, its stderr on stderr, a status line on stderr at a terminal, and exits with the job's exit code (with --json: the finished job as one JSON document). Many jobs from a JSON Lines file: omni jobs submit-batch FILE.",
    )
    .argument('<image>', 'an image on the allowlist (SANDBOX_IMAGES)')
    .argument('[command...]', 'the command and its arguments, after --')
    .option('--env <KEY=VALUE>', 'an environment variable (repeatable)', collect)
    .option(
      '--secret <ENV=NAME>',
      "an environment variable filled from the tenant's secret NAME (repeatable)",
      collect,
    )
    .option('--label <KEY=VALUE>', 'a label to find the job by (repeatable, at most 16)', collect)
    .option(
      '--input <FILE-ID:PATH>',
      'an uploaded file (omni files upload) placed at PATH under /tmp or an --input-dir (repeatable)',
      collect,
    )
    .option(
      '--file <LOCAL:PATH>',
      'a small local text file written at PATH under /tmp or an --input-dir (repeatable)',
      collect,
    )
    .option(
      '--input-dir <DIR>',
      'a directory for inputs besides /tmp (/in, /workspace): a tmpfs, read-only once filled (repeatable)',
      collect,
    )
    .option('--workdir <DIR>', 'where the command starts (default /tmp)')
    .option(
      '--output <PATTERN>',
      'files under /out to keep as artifacts, * matches within a segment (repeatable)',
      collect,
    )
    .option('--stdin <FILE>', "the job's standard input, read from FILE (- for this terminal's stdin)")
    .option('--memory <SIZE>', 'memory limit (256m, 1g)')
    .option('--cpus <N>', 'CPU limit (0.5, 2)')
    .option('--pids <N>', 'process limit')
    .option('--timeout <DURATION>', 'wall-clock limit of an attempt (30s, 5m; a bare number is seconds)')
    // The flag of earlier versions, kept for scripts that use it.
    .addOption(new Option('--timeout-ms <MS>', 'wall-clock limit in milliseconds').hideHelp())
    .option('--priority <0-100>', 'queue priority, 100 most urgent (default 50)')
    .option('--delay <DURATION>', 'run no earlier than this long from now')
    .option('--run-at <INSTANT>', 'run no earlier than this instant (2026-12-03T10:00:00Z)')
    .option('--expires-at <INSTANT>', 'give up if the job has not started by this instant')
    .option('--queue-timeout <DURATION>', 'give up on an attempt that waited this long in the queue')
    .option('--max-attempts <N>', 'attempts in all, retries included')
    .option('--retry-on <REASONS>', 'comma-separated failure reasons worth a retry (non-zero-exit,timeout,…)')
    .option('--retry-delay <DURATION>', 'wait before the first retry (doubling after)')
    .option(
      '--idempotency-key <KEY>',
      'the same key and body again returns the original job instead of a new one',
    )
    .option('--wait', 'follow the job to its end and exit with its exit code')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Examples:
  omni submit omni-busybox:latest -- echo hello
  omni submit --wait --env GREETING=hi omni-busybox:latest -- sh -c 'echo $GREETING; exit 3'   # exits 3
  omni submit --label team=data --memory 128m --cpus 0.5 --timeout 30s omni-busybox:latest -- sleep 5
  omni submit --input 3d1b…:/tmp/in/sales.csv --output '/out/*.txt' omni-busybox:latest -- sh -c 'wc -l < /tmp/in/sales.csv > /out/total.txt'
  omni submit --delay 10s --max-attempts 3 --idempotency-key nightly-2026-12-03 omni-busybox:latest -- true`,
    )
    .action(async (image: string, command: string[], options: SubmitOptions) => {
      context.exitCode = await runSubmit(context, image, command, options);
    });
}
