import type { Command } from 'commander';
import type { paths } from '../../client/index.ts';
import type { CliContext } from './cli-context.ts';
import { usageError } from './cli-error.ts';
import { collect, parseDuration, parseInstant, parseInteger } from './flag-values.ts';
import { type SubmitFlags, submitRequest } from './submit-spec.ts';
import { formatTable } from './table.ts';

/** A schedule as the API answers it (the fields the CLI prints; --json passes on the rest). */
type ScheduleCreation = paths['/v1/schedules']['post']['requestBody']['content']['application/json'];

interface ScheduleView {
  readonly id: string;
  readonly name: string | null;
  readonly status: string;
  readonly cron: string | null;
  readonly timeZone: string | null;
  readonly intervalMs: number | null;
  readonly catchUp: string;
  readonly maxCatchUp: number;
  readonly overlap: string;
  readonly startAt: string;
  readonly job: { readonly image: string; readonly command: readonly string[] };
  readonly nextSlotAt: string | null;
  readonly lastFired: { readonly slot: string; readonly jobId: string } | null;
  readonly firedCount: number;
  readonly skippedCount: number;
  readonly createdAt: string;
}

/**
 * The submit flags a schedule's job template takes. Left out: --input (a file named by id may be
 * gone by a later slot, so the API refuses inputs), --delay, --run-at and --expires-at (one instant
 * for every slot means nothing) and the job's --idempotency-key (each slot's job id is already
 * deterministic; create's own --idempotency-key is the schedule's).
 */
type TemplateFlags = Pick<
  SubmitFlags,
  | 'env'
  | 'secret'
  | 'label'
  | 'file'
  | 'output'
  | 'stdin'
  | 'memory'
  | 'cpus'
  | 'pids'
  | 'timeout'
  | 'priority'
  | 'queueTimeout'
  | 'maxAttempts'
  | 'retryOn'
  | 'retryDelay'
>;

interface CreateOptions extends TemplateFlags {
  readonly cron?: string;
  readonly timeZone?: string;
  readonly interval?: string;
  readonly startAt?: string;
  readonly catchUp?: string;
  readonly maxCatchUp?: string;
  readonly overlap?: string;
  readonly name?: string;
  readonly idempotencyKey?: string;
  readonly json?: boolean;
}

/** Every minute (60000 ms) reads better as 1m; an interval not a whole unit stays in ms. */
function formatInterval(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const)
    if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

const timingOf = (schedule: ScheduleView): string =>
  schedule.cron === null
    ? `every ${formatInterval(schedule.intervalMs ?? 0)}`
    : `${schedule.cron} (${schedule.timeZone ?? 'UTC'})`;

/** The body of POST /v1/schedules; the shape is checked here, every bound by the API. */
function createScheduleBody(
  image: string,
  command: readonly string[],
  options: CreateOptions,
): Record<string, unknown> {
  if ((options.cron === undefined) === (options.interval === undefined))
    throw usageError('give --cron or --interval, exactly one');
  if (options.timeZone !== undefined && options.cron === undefined)
    throw usageError('--time-zone applies to --cron only');
  if (command.length === 0) throw usageError('no command: omni schedules create [options] -- IMAGE COMMAND');
  const { env, secret, label, file, output, stdin, memory, cpus, pids, timeout } = options;
  const { priority, queueTimeout, maxAttempts, retryOn, retryDelay } = options;
  const template: TemplateFlags = {
    ...{ env, secret, label, file, output, stdin, memory, cpus, pids, timeout },
    ...{ priority, queueTimeout, maxAttempts, retryOn, retryDelay },
  };
  const { body: job } = submitRequest(image, command, template);
  const body: Record<string, unknown> = {
    job,
    name: options.name,
    cron: options.cron,
    timeZone: options.timeZone,
    intervalMs: options.interval === undefined ? undefined : parseDuration('--interval', options.interval),
    startAt: options.startAt === undefined ? undefined : parseInstant('--start-at', options.startAt),
    catchUp: options.catchUp,
    maxCatchUp:
      options.maxCatchUp === undefined
        ? undefined
        : parseInteger('--max-catch-up', options.maxCatchUp, 1, 1_000_000),
    overlap: options.overlap,
  };
  for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
  return body;
}

async function createSchedule(
  context: CliContext,
  image: string,
  command: readonly string[],
  options: CreateOptions,
): Promise<number> {
  const body = createScheduleBody(image, command, options);
  const client = context.client();
  // The API checks the schedule the flags built (a 400 names the field).
  // A key makes a rerun of the same create (a script retried after a timeout) answer the schedule
  // the first made, instead of a second schedule firing the same jobs.
  const headers = options.idempotencyKey === undefined ? {} : { 'idempotency-key': options.idempotencyKey };
  const schedule = await client.call(
    client.omni.api.POST('/v1/schedules', { body: body as ScheduleCreation, headers }),
  );
  context.out.write(options.json ? `${JSON.stringify(schedule)}\n` : `${schedule.id}\n`);
  return 0;
}

async function listSchedules(
  context: CliContext,
  options: { limit?: string; after?: string; json?: boolean },
): Promise<number> {
  const client = context.client();
  const query = {
    ...(options.limit ? { limit: parseInteger('--limit', options.limit, 1, 100) } : {}),
    ...(options.after ? { after: options.after } : {}),
  };
  const page = await client.call(client.omni.api.GET('/v1/schedules', { params: { query } }));
  if (options.json) {
    context.out.write(`${JSON.stringify(page)}\n`);
    return 0;
  }
  context.out.write(
    formatTable(
      ['ID', 'STATUS', 'NEXT SLOT', 'LAST JOB', 'TIMING', 'NAME'],
      page.schedules.map((schedule) => [
        schedule.id,
        schedule.status,
        schedule.nextSlotAt ?? '-',
        schedule.lastFired?.jobId ?? '-',
        timingOf(schedule),
        schedule.name ?? '-',
      ]),
    ),
  );
  if (page.next) context.err.write(`omni: more schedules: --after ${page.next}\n`);
  return 0;
}

/** The fields of a schedule worth a line each for people; --json has them all. */
function describeSchedule(schedule: ScheduleView): string {
  const lines: [string, string][] = [
    ['id', schedule.id],
    ['name', schedule.name ?? '-'],
    ['status', schedule.status],
    ['timing', timingOf(schedule)],
    ['job', [schedule.job.image, ...schedule.job.command].join(' ')],
    ['catch-up', `${schedule.catchUp} (at most ${schedule.maxCatchUp})`],
    ['overlap', schedule.overlap],
    ['next slot', schedule.nextSlotAt ?? '-'],
    [
      'last fired',
      schedule.lastFired ? `${schedule.lastFired.slot} as job ${schedule.lastFired.jobId}` : '-',
    ],
    ['fired', `${schedule.firedCount} (skipped ${schedule.skippedCount})`],
    ['created', schedule.createdAt],
  ];
  return lines.map(([key, value]) => `${`${key}:`.padEnd(12)}${value}\n`).join('');
}

async function getSchedule(context: CliContext, id: string, json: boolean): Promise<number> {
  const client = context.client();
  const schedule = await client.call(client.omni.api.GET('/v1/schedules/{id}', { params: { path: { id } } }));
  context.out.write(json ? `${JSON.stringify(schedule)}\n` : describeSchedule(schedule));
  return 0;
}

/** pause and resume: one PATCH; prints the id and the status the schedule now has. */
async function setPaused(context: CliContext, id: string, paused: boolean, json: boolean): Promise<number> {
  const client = context.client();
  const schedule = await client.call(
    client.omni.api.PATCH('/v1/schedules/{id}', { params: { path: { id } }, body: { paused } }),
  );
  context.out.write(json ? `${JSON.stringify(schedule)}\n` : `${schedule.id} ${schedule.status}\n`);
  return 0;
}

async function deleteSchedule(context: CliContext, id: string, json: boolean): Promise<number> {
  const client = context.client();
  await client.call(client.omni.api.DELETE('/v1/schedules/{id}', { params: { path: { id } } }));
  context.out.write(json ? `${JSON.stringify({ id, deleted: true })}\n` : `${id}\n`);
  return 0;
}

/** The job template's flags, as `omni submit` names them. */
function addTemplateOptions(command: Command): Command {
  return command
    .option('--env <KEY=VALUE>', 'an environment variable of each job (repeatable)', collect)
    .option('--secret <ENV=NAME>', "a variable filled from the tenant's secret NAME (repeatable)", collect)
    .option('--label <KEY=VALUE>', 'a label on each job (repeatable)', collect)
    .option('--file <LOCAL:PATH>', 'a small local text file written at PATH under /tmp (repeatable)', collect)
    .option('--output <PATTERN>', 'files under /out to keep as artifacts (repeatable)', collect)
    .option('--stdin <FILE>', "each job's standard input, read from FILE now (- for stdin)")
    .option('--memory <SIZE>', 'memory limit (256m, 1g)')
    .option('--cpus <N>', 'CPU limit (0.5, 2)')
    .option('--pids <N>', 'process limit')
    .option('--timeout <DURATION>', 'wall-clock limit of an attempt (30s, 5m)')
    .option('--priority <0-100>', 'queue priority, 100 most urgent')
    .option('--queue-timeout <DURATION>', 'give up on an attempt that waited this long in the queue')
    .option('--max-attempts <N>', 'attempts in all, retries included')
    .option('--retry-on <REASONS>', 'comma-separated failure reasons worth a retry')
    .option('--retry-delay <DURATION>', 'wait before the first retry (doubling after)');
}

export function registerSchedulesCommands(program: Command, context: CliContext): void {
  const schedules = program
    .command('schedules')
    .summary('recurring jobs: create, list, pause, resume and delete schedules')
    .description(
      'Schedules submit a job at each slot of a cron expression (in a time zone) or of an interval. Each slot fires at most once; a missed one follows --catch-up, a slot whose previous job still runs follows --overlap.',
    )
    .addHelpText(
      'after',
      `
Examples:
  omni schedules create --name nightly --cron '0 3 * * *' --time-zone Europe/Berlin -- omni-busybox:latest echo hi
  omni schedules create --interval 30s --overlap skip-if-running -- omni-busybox:latest date
  omni schedules list
  omni schedules pause 2c5e…`,
    );
  addTemplateOptions(
    schedules
      .command('create')
      .description('create a schedule; prints its id (--json: the schedule as JSON)')
      .argument('<image>', 'an image on the allowlist, after --')
      .argument('[command...]', 'the command and its arguments')
      .option(
        '--cron <EXPRESSION>',
        "when it fires: a cron expression ('*/5 * * * *'; a sixth field is seconds)",
      )
      .option('--time-zone <ZONE>', 'the IANA time zone the cron expression reads in (default UTC)')
      .option('--interval <DURATION>', 'or: fire every DURATION (1s at least: 30s, 5m, 1h)')
      .option('--start-at <INSTANT>', 'the first slot of an interval (default: the next whole second)')
      .option('--catch-up <POLICY>', 'missed slots: skip, run-once (default) or run-all')
      .option('--max-catch-up <N>', 'run-all fires at most N missed slots (default 10)')
      .option(
        '--overlap <POLICY>',
        'a slot while the last job runs: allow, skip-if-running (default), cancel-previous',
      )
      .option('--name <NAME>', 'a name to tell it by')
      .option(
        '--idempotency-key <KEY>',
        'the same key and body again prints the schedule it made instead of making another',
      ),
  )
    .option('--json', 'print the schedule as JSON')
    .addHelpText(
      'after',
      `
Examples:
  omni schedules create --cron '*/15 * * * *' -- omni-busybox:latest echo tick
  omni schedules create --interval 1h --catch-up run-all --max-catch-up 24 --memory 128m -- omni-busybox:latest sh -c 'date'
  omni schedules create --idempotency-key nightly-report --cron '0 3 * * *' -- omni-busybox:latest echo report`,
    )
    .action(async (image: string, command: string[], options: CreateOptions) => {
      context.exitCode = await createSchedule(context, image, command, options);
    });
  schedules
    .command('list')
    .description("your tenant's schedules, newest first: status, next slot, last job")
    .option('--limit <N>', 'schedules to list, 1-100 (default 50)')
    .option('--after <SCHEDULE-ID>', 'the page after this schedule (stderr names it)')
    .option('--json', 'print the page as JSON')
    .addHelpText('after', '\nExamples:\n  omni schedules list --limit 10\n  omni schedules list --json')
    .action(async (options: { limit?: string; after?: string; json?: boolean }) => {
      context.exitCode = await listSchedules(context, options);
    });
  schedules
    .command('get')
    .description('a schedule: its timing, policies, next slot and what it fired last')
    .argument('<schedule-id>')
    .option('--json', 'print the schedule as JSON')
    .addHelpText('after', '\nExamples:\n  omni schedules get 2c5e… --json')
    .action(async (id: string, options: { json?: boolean }) => {
      context.exitCode = await getSchedule(context, id, options.json === true);
    });
  for (const [name, paused, description] of [
    ['pause', true, 'stop firing (slots while paused never fire); prints the id and status'],
    ['resume', false, 'fire again from the next slot on; prints the id and status'],
  ] as const)
    schedules
      .command(name)
      .description(description)
      .argument('<schedule-id>')
      .option('--json', 'print the schedule as JSON')
      .addHelpText('after', `\nExamples:\n  omni schedules ${name} 2c5e…`)
      .action(async (id: string, options: { json?: boolean }) => {
        context.exitCode = await setPaused(context, id, paused, options.json === true);
      });
  schedules
    .command('delete')
    .description('delete a schedule (jobs it submitted stay)')
    .argument('<schedule-id>')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExamples:\n  omni schedules delete 2c5e…')
    .action(async (id: string, options: { json?: boolean }) => {
      context.exitCode = await deleteSchedule(context, id, options.json === true);
    });
}
