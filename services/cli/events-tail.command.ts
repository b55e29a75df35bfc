import type { Command } from 'commander';
import type { CliContext } from './cli-context.ts';
import { parseInteger } from './flag-values.ts';
import { eventStyle, paint } from './output.ts';

interface LogEvent {
  readonly position: number;
  readonly cursor: string;
  readonly type: string;
  readonly streamId: string;
  readonly streamVersion: number;
  readonly recordedAt: string;
  readonly metadata: { readonly actor?: string };
}

interface TailOptions {
  readonly after?: string;
  readonly type?: string;
  readonly stream?: string;
  readonly limit?: string;
  readonly json?: boolean;
}

/**
 * `omni events tail`: follows the global log (admin token), one line per event; a dropped feed
 * resumes after the last cursor received, so no event is lost or printed twice.
 */
async function tailEvents(context: CliContext, options: TailOptions): Promise<number> {
  const limit =
    options.limit === undefined ? undefined : parseInteger('--limit', options.limit, 1, 1_000_000);
  const query = (after: string | undefined) => {
    const params = new URLSearchParams();
    if (after) params.set('after', after);
    if (options.type) params.set('type', options.type);
    if (options.stream) params.set('stream', options.stream);
    return `/v1/events/watch?${params}`;
  };
  const controller = new AbortController();
  let seen = 0;
  for await (const { event, data } of context
    .client()
    .events(query(options.after), { signal: controller.signal, resumePath: query })) {
    if (event === 'end') break;
    const view = JSON.parse(data) as LogEvent;
    const { out } = context;
    out.write(
      options.json
        ? `${JSON.stringify(view)}\n`
        : `${paint(out, 'dim', String(view.position).padStart(8))} ${paint(out, 'dim', view.recordedAt)} ${paint(out, eventStyle(view.type), view.type.padEnd(20))} ${view.streamId} v${view.streamVersion} ${view.metadata.actor ?? ''}`.trimEnd() +
            '\n',
    );
    seen += 1;
    if (limit !== undefined && seen >= limit) {
      controller.abort();
      break;
    }
  }
  return 0;
}

export function registerEventsCommands(program: Command, context: CliContext): void {
  const events = program
    .command('events')
    .summary('follow the global log (admin)')
    .description('The global log of every tenant, in commit order (an admin token).')
    .addHelpText('after', '\nExamples:\n  omni events tail --type JobSubmitted,JobFailed');
  events
    .command('tail')
    .description('print the log from the start (or --after CURSOR), then follow it live')
    .option('--after <CURSOR>', 'start after this cursor (each JSON line carries its own)')
    .option('--type <TYPE,...>', 'only these event types')
    .option('--stream <PREFIX>', 'only streams whose id starts so (job-8f0c…)')
    .option('--limit <N>', 'stop after N events')
    .option('--json', 'print JSON lines')
    .addHelpText(
      'after',
      '\nExamples:\n  omni events tail --type JobFailed\n  omni events tail --json --limit 10 | jq -r .type',
    )
    .action(async (options: TailOptions) => {
      context.exitCode = await tailEvents(context, options);
    });
}
