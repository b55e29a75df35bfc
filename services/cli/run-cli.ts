import { CommanderError } from 'commander';
import { cliErrorOf } from './api-client.ts';
import { type CliContext, createCliContext } from './cli-context.ts';
import { CliError, formatProblemLine } from './cli-error.ts';
import { exitCodes } from './exit-codes.ts';
import type { Output } from './output.ts';
import { createProgram } from './program.ts';

/** `--json` before `--` (after it, the words are a job's command). */
const wantsJson = (argv: readonly string[]) => {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
};

/** Commander's own message (`error: unknown option '--x'`) without its prefix. */
const commanderDetail = (error: CommanderError) => error.message.replace(/^error:\s*/, '');

/** Writes a failure as the CLI's one line (or, with --json, the problem as JSON) on stderr. */
function report(context: CliContext, error: CliError, json: boolean): number {
  context.err.write(json ? `${JSON.stringify(error.problem)}\n` : `${formatProblemLine(error.problem)}\n`);
  return error.exitCode;
}

/**
 * Runs the command line and returns the exit code; never throws. Expected failures (usage, API
 * problems, an unreachable server) are one line; anything else is a defect and prints its stack.
 */
export async function runCli(
  argv: readonly string[],
  streams: { readonly out: Output; readonly err: Output; readonly env: CliContext['env'] },
): Promise<number> {
  const context = createCliContext(streams.out, streams.err, streams.env);
  const program = createProgram(context);
  const json = wantsJson(argv);
  if (argv.length === 0) {
    program.outputHelp();
    return exitCodes.ok;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return context.exitCode;
  } catch (thrown) {
    // A command may let the typed client's own errors (a refusal, an unreachable API) through.
    const error = cliErrorOf(thrown);
    if (error instanceof CommanderError) {
      if (['commander.helpDisplayed', 'commander.version'].includes(error.code)) return exitCodes.ok;
      // Help asked for (`omni help jobs`) is done; a group named without its subcommand
      // (`omni jobs`) shows its help on stderr, a usage error.
      if (error.code === 'commander.help') return argv[0] === 'help' ? exitCodes.ok : exitCodes.usage;
      // The help to point at: the deepest command the words name (`omni jobs list --help`).
      const path: string[] = [];
      for (let command = program, index = 0; index < argv.length; index += 1) {
        const sub = command.commands.find((candidate) => candidate.name() === argv[index]);
        if (!sub) break;
        path.push(sub.name());
        command = sub;
      }
      return report(
        context,
        new CliError(
          {
            title: 'invalid usage',
            code: 'usage',
            detail: `${commanderDetail(error)} (omni ${path.map((word) => `${word} `).join('')}--help shows the usage)`,
          },
          exitCodes.usage,
        ),
        json,
      );
    }
    if (error instanceof CliError) return report(context, error, json);
    context.err.write(
      `omni: failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return exitCodes.failure;
  }
}
