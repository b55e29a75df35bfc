import type { Command } from 'commander';
import type { CliContext } from './cli-context.ts';
import { collect, parseInteger } from './flag-values.ts';
import type { JobEventView, JobView } from './job-feed.ts';
import { runJobLogs } from './job-logs.ts';
import { jobEventLine, runJobWatch } from './job-watch.ts';
import { paint, statusStyle } from './output.ts';
import { registerSubmitBatchCommand } from './submit-batch.command.ts';
import { formatTable } from './table.ts';

interface ListOptions {
  readonly status?: string;
  readonly label?: readonly string[];
  readonly image?: string;
  readonly search?: string;
  readonly limit?: string;
  readonly cursor?: string;
  readonly json?: boolean;
}

async function listJobs(context: CliContext, options: ListOptions): Promise<number> {
  const client = context.client();
  const page = await client.call(
    client.omni.api.GET('/v1/jobs', {
      params: {
        query: {
          ...(options.status ? { status: options.status } : {}),
          ...(options.label && options.label.length > 0 ? { label: [...options.label] } : {}),
          ...(options.image ? { image: options.image } : {}),
          ...(options.search ? { q: options.search } : {}),
          ...(options.limit ? { limit: parseInteger('--limit', options.limit, 1, 200) } : {}),
          ...(options.cursor ? { cursor: options.cursor } : {}),
        },
      },
    }),
  );
  if (options.json) {
    context.out.write(`${JSON.stringify(page)}\n`);
    return 0;
  }
  context.out.write(
    formatTable(
      ['ID', 'STATUS', 'EXIT', 'ATTEMPT', 'SUBMITTED', 'IMAGE', 'COMMAND'],
      page.jobs.map((job) => [
        job.id,
        job.status,
        job.exitCode === null ? '-' : String(job.exitCode),
        String(job.attempt),
        job.submittedAt ?? '-',
        job.image,
        (job.command ?? '').slice(0, 60),
      ]),
    ),
  );
  if (page.nextCursor) context.err.write(`omni: more jobs: --cursor ${page.nextCursor}\n`);
  return 0;
}

/** The fields of a job worth a line each for people; --json has them all. */
function describeJob(job: JobView): string {
  const lines: [string, unknown][] = [
    ['id', job.id],
    ['status', job.status],
    ['attempt', `${job.attempt} of ${String(job.maxAttempts)}`],
    ['image', job.image],
    ['command', (job.command as string[] | undefined)?.join(' ')],
    ['exit code', job.exitCode],
    [
      'failure',
      job.failureMessage ? `${String(job.failureReason)}: ${String(job.failureMessage)}` : job.failureReason,
    ],
    ['submitted', `${String(job.submittedAt)} by ${String(job.submittedBy)}`],
    ['started', job.startedAt],
    ['finished', job.finishedAt],
    ['duration', job.durationMs === null ? null : `${String(job.durationMs)} ms`],
    [
      'labels',
      Object.entries((job.labels as Record<string, string>) ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(' '),
    ],
    ['artifacts', ((job.artifacts as { path: string }[]) ?? []).map((artifact) => artifact.path).join(' ')],
  ];
  return lines
    .filter(([, value]) => value !== null && value !== undefined && value !== '')
    .map(([name, value]) => `${`${name}:`.padEnd(11)}${String(value)}\n`)
    .join('');
}

async function getJob(context: CliContext, id: string, json: boolean): Promise<number> {
  const client = context.client();
  const job = (await client.call(
    client.omni.api.GET('/v1/jobs/{id}', { params: { path: { id } } }),
  )) as JobView;
  context.out.write(json ? `${JSON.stringify(job)}\n` : describeJob(job));
  return 0;
}

/** cancel and retry: the operator's levers; prints the id and the status the job is in now. */
async function actOnJob(
  context: CliContext,
  action: 'cancel' | 'retry',
  id: string,
  options: { reason?: string; json?: boolean },
): Promise<number> {
  const client = context.client();
  const note = {
    params: { path: { id } },
    body: options.reason === undefined ? {} : { reason: options.reason },
  };
  const job = await client.call(
    action === 'cancel'
      ? client.omni.api.POST('/v1/jobs/{id}/cancel', note)
      : client.omni.api.POST('/v1/jobs/{id}/retry', note),
  );
  context.out.write(
    options.json
      ? `${JSON.stringify(job)}\n`
      : `${job.id} ${paint(context.out, statusStyle(job.status), job.status)}\n`,
  );
  return 0;
}

async function listJobEvents(context: CliContext, id: string, json: boolean): Promise<number> {
  const client = context.client();
  // The history a page at a time (the route caps a page), printed as it comes.
  for (let after = 0; ; ) {
    const page = await client.call(
      client.omni.api.GET('/v1/jobs/{id}/events', { params: { path: { id }, query: { after } } }),
    );
    // A job's events carry an object as data; the document only promises JSON.
    for (const event of page.events as JobEventView[])
      context.out.write(json ? `${JSON.stringify(event)}\n` : `${jobEventLine(context, event)}\n`);
    if (page.next === null) return 0;
    after = page.next;
  }
}

export function registerJobsCommands(program: Command, context: CliContext): void {
  const jobs = program
    .command('jobs')
    .summary('list, inspect, cancel, retry and follow jobs; submit many from a file')
    .description(
      'List, inspect, cancel, retry and follow jobs, or submit many from a JSON Lines file (OMNI_URL, OMNI_TOKEN).',
    )
    .addHelpText(
      'after',
      `
Examples:
  omni jobs list --status failed --label team=data
  omni jobs get 8f0c…
  omni jobs submit-batch jobs.jsonl
  omni jobs logs --follow 8f0c…
  omni jobs cancel 8f0c… --reason 'wrong input'`,
    );

  jobs
    .command('list')
    .description("your tenant's jobs, newest first (a table; --json for the page as JSON)")
    .option(
      '--status <STATUS,...>',
      'only these statuses (queued, running, succeeded, failed, cancelled, expired)',
    )
    .option('--label <KEY=VALUE>', 'only jobs carrying this label (repeatable: all must hold)', collect)
    .option('--image <IMAGE>', 'only jobs of this image')
    .option('--search <WORDS>', 'words to find in the command or the labels')
    .option('--limit <N>', 'jobs per page, 1-200 (default 50)')
    .option('--cursor <CURSOR>', 'the next page (printed on stderr after a full page)')
    .option('--json', 'print the page as JSON: { jobs, nextCursor }')
    .addHelpText('after', '\nExamples:\n  omni jobs list\n  omni jobs list --status queued,running --json')
    .action(async (options: ListOptions) => {
      context.exitCode = await listJobs(context, options);
    });

  registerSubmitBatchCommand(jobs, context);

  jobs
    .command('get')
    .description('one job: status, exit code, times, labels, artifacts (--json: the whole job view)')
    .argument('<job-id>')
    .option('--json', 'print the job as JSON')
    .addHelpText('after', '\nExamples:\n  omni jobs get 8f0c…\n  omni jobs get 8f0c… --json | jq .exitCode')
    .action(async (id: string, options: { json?: boolean }) => {
      context.exitCode = await getJob(context, id, options.json === true);
    });

  for (const action of ['cancel', 'retry'] as const) {
    jobs
      .command(action)
      .description(
        action === 'cancel'
          ? 'cancel a queued or running job; prints its status (a finished one is refused: exit 3)'
          : 'run a finished job again as its next attempt; prints its status',
      )
      .argument('<job-id>')
      .option('--reason <TEXT>', 'a note kept on the event')
      .option('--json', 'print the job as JSON')
      .addHelpText('after', `\nExamples:\n  omni jobs ${action} 8f0c… --reason 'asked by the data team'`)
      .action(async (id: string, options: { reason?: string; json?: boolean }) => {
        context.exitCode = await actOnJob(context, action, id, options);
      });
  }

  jobs
    .command('logs')
    .description("a job's output: its stdout on stdout, its stderr on stderr")
    .argument('<job-id>')
    .option('-f, --follow', 'keep following until the job finishes')
    .option('--json', 'print the chunks as JSON lines')
    .addHelpText('after', '\nExamples:\n  omni jobs logs 8f0c…\n  omni jobs logs --follow 8f0c… 2>/dev/null')
    .action(async (id: string, options: { follow?: boolean; json?: boolean }) => {
      context.exitCode = await runJobLogs(context, id, options);
    });

  jobs
    .command('events')
    .description("a job's history: every event of its stream, oldest first")
    .argument('<job-id>')
    .option('--json', 'print the events as JSON lines')
    .addHelpText('after', '\nExamples:\n  omni jobs events 8f0c… --json')
    .action(async (id: string, options: { json?: boolean }) => {
      context.exitCode = await listJobEvents(context, id, options.json === true);
    });

  jobs
    .command('watch')
    .description("follow a job's events until it finishes (history first, then live); exits like the job")
    .argument('<job-id>')
    .option('--json', 'print the events as JSON lines')
    .addHelpText('after', '\nExamples:\n  omni jobs watch 8f0c…')
    .action(async (id: string, options: { json?: boolean }) => {
      context.exitCode = await runJobWatch(context, id, options.json === true);
    });

  // `omni watch JOB`, the command of earlier versions.
  program
    .command('watch', { hidden: true })
    .argument('<job-id>')
    .option('--json')
    .action(async (id: string, options: { json?: boolean }) => {
      context.exitCode = await runJobWatch(context, id, options.json === true);
    });
}
