import { createRequire } from 'node:module';
import { Command } from 'commander';
import { registerArtifactsCommands } from './artifacts.command.ts';
import type { CliContext } from './cli-context.ts';
import { registerEventsCommands } from './events-tail.command.ts';
import { exitCodesHelp } from './exit-codes.ts';
import { registerFilesCommands } from './files.command.ts';
import { registerJobsCommands } from './jobs.command.ts';
import { registerOperatorCommands, serveRole } from './operator.commands.ts';
import { registerSchedulesCommands } from './schedules.command.ts';
import { registerSubmitCommand } from './submit.command.ts';
import { registerWebhooksCommands } from './webhooks.command.ts';

const environmentHelp = `Environment:
  OMNI_URL      the API client commands talk to (default http://127.0.0.1:3000; OMNI_API_URL also read)
  OMNI_TOKEN    their bearer token (omni token prints one; npm start prints one of its own key)
  DATABASE_URL  the Postgres migrate, verify, anchor and replay read (never created but by migrate)
  JWT_SECRET    the key omni token signs with; NO_COLOR turns colours off

stdout carries only the result (an id, a table, or JSON with --json); progress and diagnostics go
to stderr, and progress lines only to a terminal. Errors are one line on stderr
(omni: <title>: <detail> (<field>: <why>, …)), or the problem as JSON with --json.`;

// The package's own manifest (dist/package.json beside the built JavaScript, see build:cli).
const productVersion = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

/** The whole command line: every command, its options, its help and examples. */
export function createProgram(context: CliContext): Command {
  const program = new Command('omni')
    .description(
      'Run jobs in hardened Docker sandboxes with a verifiable history: use it, operate it, serve it.',
    )
    .usage('<command> [options]')
    .version(productVersion, '-V, --version', 'print the version')
    .helpCommand('help [command]', 'help for a command')
    .configureOutput({
      writeOut: (text) => context.out.write(text),
      writeErr: (text) => context.err.write(text),
      // Usage errors are reported by runCli as one line, like every other error.
      outputError: () => undefined,
    })
    .exitOverride()
    .showSuggestionAfterError(true)
    .addHelpText(
      'after',
      `
Examples:
  export OMNI_TOKEN=$(omni token ops default --admin)
  omni submit --wait omni-busybox:latest -- sh -c 'echo hi; exit 3'   # prints hi, exits 3
  omni jobs list --status failed
  omni events tail --type JobFailed

${environmentHelp}

${exitCodesHelp}
`,
    );
  registerSubmitCommand(program, context);
  registerJobsCommands(program, context);
  registerFilesCommands(program, context);
  registerArtifactsCommands(program, context);
  registerEventsCommands(program, context);
  registerSchedulesCommands(program, context);
  registerWebhooksCommands(program, context, () => serveRole(context, 'webhooks'));
  registerOperatorCommands(program, context);
  // Every command stops at its own errors the same way, and shows its usage on `--help`.
  for (const command of program.commands) {
    command.exitOverride().configureOutput(program.configureOutput());
    for (const sub of command.commands) sub.exitOverride().configureOutput(program.configureOutput());
  }
  return program;
}
