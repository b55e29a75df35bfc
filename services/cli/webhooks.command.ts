import type { Command } from 'commander';
import type { Webhook } from '../../client/index.ts';
import type { CliContext } from './cli-context.ts';
import { usageError } from './cli-error.ts';
import { formatTable } from './table.ts';

/** `--events JobSucceeded,JobFailed` (or `terminal`, the default: every end of a job). */
function parseEvents(text: string): string[] {
  const events = text
    .split(',')
    .map((event) => event.trim())
    .filter(Boolean);
  if (events.length === 0) throw usageError(`--events ${text}: expected event types such as JobFailed`);
  return events;
}

/** Prints the id and, this once, the signing secret: the API never shows it again. */
async function createWebhook(
  context: CliContext,
  url: string,
  options: { events?: string; json?: boolean },
): Promise<number> {
  const client = context.client();
  // The API names an event type it does not know (400, with the pointer to it).
  const events = parseEvents(options.events ?? 'terminal') as Webhook['events'];
  const created = await client.call(client.omni.api.POST('/v1/webhooks', { body: { url, events } }));
  if (options.json) context.out.write(`${JSON.stringify(created)}\n`);
  else {
    context.out.write(`id:      ${created.id}\nsecret:  ${created.secret}\n`);
    context.err.write(
      'omni: keep the secret now: it is shown only once (receivers verify signatures with it)\n',
    );
  }
  return 0;
}

async function listWebhooks(context: CliContext, json: boolean): Promise<number> {
  const client = context.client();
  const page = await client.call(client.omni.api.GET('/v1/webhooks'));
  context.out.write(
    json
      ? `${JSON.stringify(page)}\n`
      : formatTable(
          ['ID', 'EVENTS', 'CREATED', 'URL'],
          page.webhooks.map((webhook) => [
            webhook.id,
            webhook.events.join(','),
            webhook.createdAt,
            webhook.url,
          ]),
        ),
  );
  return 0;
}

async function deleteWebhook(context: CliContext, id: string, json: boolean): Promise<number> {
  const client = context.client();
  await client.call(client.omni.api.DELETE('/v1/webhooks/{id}', { params: { path: { id } } }));
  context.out.write(json ? `${JSON.stringify({ id, deleted: true })}\n` : `${id}\n`);
  return 0;
}

/**
 * `omni webhooks create|list|delete`. Bare `omni webhooks` stays what compose and the image run:
 * the webhooks role (`serveRole`), as `omni serve webhooks`.
 */
export function registerWebhooksCommands(
  program: Command,
  context: CliContext,
  serveRole: () => Promise<number>,
): void {
  const webhooks = program
    .command('webhooks')
    .summary("subscriptions to your jobs' ends: create, list, delete (bare: run the webhooks role)")
    .description(
      "Webhook subscriptions: the API POSTs each of your jobs' ends you subscribed to (JobSucceeded, JobFailed, JobCancelled, JobExpired, or terminal for all) to the URL, signed per Standard Webhooks with the subscription's secret. Bare `omni webhooks` runs the role that delivers them (as `omni serve webhooks`).",
    )
    .addHelpText(
      'after',
      `
Examples:
  omni webhooks create https://hooks.example.com/omni --events JobFailed   # prints the id and the secret, once
  omni webhooks list
  omni webhooks delete 7f0c…`,
    )
    .action(async () => {
      context.exitCode = await serveRole();
    });
  webhooks
    .command('create')
    .description('subscribe a URL; prints its id and its signing secret, which is never shown again')
    .argument('<url>', 'where deliveries go (https; loopback and private hosts only if the operator allows)')
    .option(
      '--events <TYPES>',
      'comma-separated: JobSucceeded, JobFailed, JobCancelled, JobExpired, or terminal (default)',
    )
    .option('--json', 'print the subscription and its secret as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  omni webhooks create https://hooks.example.com/omni\n  omni webhooks create https://hooks.example.com/failures --events JobFailed,JobExpired --json',
    )
    .action(async (url: string, options: { events?: string; json?: boolean }) => {
      context.exitCode = await createWebhook(context, url, options);
    });
  webhooks
    .command('list')
    .description("your tenant's subscriptions (never their secrets)")
    .option('--json', 'print them as JSON')
    .addHelpText('after', '\nExamples:\n  omni webhooks list --json')
    .action(async (options: { json?: boolean }) => {
      context.exitCode = await listWebhooks(context, options.json === true);
    });
  webhooks
    .command('delete')
    .description('delete a subscription: no more deliveries to it')
    .argument('<webhook-id>')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExamples:\n  omni webhooks delete 7f0c…')
    .action(async (id: string, options: { json?: boolean }) => {
      context.exitCode = await deleteWebhook(context, id, options.json === true);
    });
}
