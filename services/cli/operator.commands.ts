import type { Command } from 'commander';
import type { Config } from '../config.ts';
import type { CliContext } from './cli-context.ts';
import { CliError, usageError } from './cli-error.ts';
import { exitCodes } from './exit-codes.ts';
import { createProgressLine } from './progress-line.ts';
import { isServeRole, serveRoles } from './serve-roles.ts';

// These commands load the product (Postgres, the event store, the roles) only when they run, so
// `omni --help` and the client commands start quickly.

/** The configuration from the environment; an invalid one is a usage error naming every variable. */
async function configFrom(context: CliContext): Promise<Config> {
  const { ConfigError, loadConfig } = await import('../config.ts');
  try {
    return loadConfig(context.env);
  } catch (error) {
    if (error instanceof ConfigError)
      throw new CliError(
        {
          title: 'invalid configuration',
          code: 'invalid-configuration',
          detail: error.problems.join('; '),
        },
        exitCodes.usage,
      );
    throw error;
  }
}

/** Runs one role (or all) until SIGTERM, as `omni serve ROLE`. */
export async function serveRole(context: CliContext, role: string): Promise<number> {
  if (!isServeRole(role)) throw usageError(`unknown role ${role}; roles: ${serveRoles.join(', ')}`);
  const config = await configFrom(context);
  const { runServe } = await import('./serve.command.ts');
  return runServe(role, config, context.out, context.err);
}

export function registerOperatorCommands(program: Command, context: CliContext): void {
  program
    .command('serve')
    .summary('run the product (all roles, or one)')
    .description(
      `Run the product until SIGTERM: ${serveRoles.map((role) => `\`${role}\``).join(', ')}.\n` +
        '`all` (the default, what npm start runs) migrates, then runs every role in one process; one role alone waits for its servers and the schema, and dispatcher and projector elect one active instance (run several). Reads DATABASE_URL, REDIS_URL, JWT_SECRET and the rest (README).',
    )
    .argument('[role]', `one of ${serveRoles.join(', ')}`, 'all')
    .addHelpText(
      'after',
      '\nExamples:\n  omni serve          # every role, as npm start\n  omni serve worker   # one role (compose runs `omni worker`, the same)',
    )
    .action(async (role: string) => {
      context.exitCode = await serveRole(context, role);
    });
  // `omni api`, `omni worker`…: what compose and the image run; the same as `omni serve ROLE`.
  // `omni webhooks` is also the webhooks client (webhooks.command.ts), whose bare form serves the role.
  for (const role of serveRoles.filter((name) => name !== 'webhooks'))
    program.command(role, { hidden: true }).action(async () => {
      context.exitCode = await serveRole(context, role);
    });

  program
    .command('migrate')
    .description('apply database migrations, creating the database if it is missing (npm start does it too)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  omni migrate   # DATABASE_URL names the database')
    .action(async (options: { json?: boolean }) => {
      const config = await configFrom(context);
      const { withDatabaseSession } = await import('./database-session.ts');
      const { migrateToLatest } = await import('../../events/migrator.ts');
      context.exitCode = await withDatabaseSession(
        { databaseUrl: config.databaseUrl, create: true },
        async (db) => {
          const applied = await migrateToLatest(db);
          context.out.write(
            options.json
              ? `${JSON.stringify({ applied })}\n`
              : applied.length > 0
                ? `applied: ${applied.join(', ')}\n`
                : 'migrations are current\n',
          );
          return 0;
        },
      );
    });

  program
    .command('verify')
    .summary("walk the log's hash chain (and its signed anchors); exit 1 where it breaks")
    .description(
      "Walk every stream's hash chain in Postgres (DATABASE_URL), check the log against signed anchors" +
        ' when given, and every stored file against the hash the log records. Exit 0 when all hold, exit 1 at the first broken event, anchor or file. Never creates or changes anything.',
    )
    .option('--anchor <FILE>', 'the anchor file (JSON lines) to check the log against (or ANCHOR_FILE)')
    .option(
      '--public-key <PEM>',
      'the Ed25519 public key the anchors are signed with (or ANCHOR_PUBLIC_KEY_FILE)',
    )
    .option('--json', 'print one JSON document')
    .addHelpText(
      'after',
      '\nExamples:\n  omni verify\n  omni verify --anchor anchors.jsonl --public-key anchor.pub --json',
    )
    .action(async (options: { anchor?: string; publicKey?: string; json?: boolean }) => {
      const anchorFile = options.anchor ?? context.env.ANCHOR_FILE;
      const publicKeyFile = options.publicKey ?? context.env.ANCHOR_PUBLIC_KEY_FILE;
      if (options.publicKey && !anchorFile) throw usageError('--public-key needs --anchor FILE');
      if (options.anchor && !publicKeyFile) throw usageError('--anchor needs --public-key PEM');
      const config = await configFrom(context);
      const { withDatabaseSession } = await import('./database-session.ts');
      const { configuredBlobStore } = await import('../../files/configured-blob-store.ts');
      const { runVerify } = await import('./verify.command.ts');
      context.exitCode = await withDatabaseSession({ databaseUrl: config.databaseUrl }, (db) =>
        runVerify(
          { db, blobs: configuredBlobStore(config.files, db) },
          {
            json: options.json === true,
            out: context.out,
            progress: createProgressLine(context.err),
            ...(anchorFile && publicKeyFile ? { anchors: { file: anchorFile, publicKeyFile } } : {}),
          },
        ),
      );
    });

  program
    .command('anchor')
    .description('append the next signed anchor of the log to FILE (Ed25519 private key)')
    .option('--anchor <FILE>', 'the anchor file to append to (or ANCHOR_FILE)')
    .option('--key <PEM>', 'the Ed25519 private key (or ANCHOR_KEY_FILE); keep it off the database hosts')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  omni anchor --anchor anchors.jsonl --key anchor.key')
    .action(async (options: { anchor?: string; key?: string; json?: boolean }) => {
      const file = options.anchor ?? context.env.ANCHOR_FILE;
      const keyFile = options.key ?? context.env.ANCHOR_KEY_FILE;
      if (!file || !keyFile) throw usageError('omni anchor needs --anchor FILE and --key PEM');
      const config = await configFrom(context);
      const { withDatabaseSession } = await import('./database-session.ts');
      const { runAnchor } = await import('./anchor.command.ts');
      context.exitCode = await withDatabaseSession({ databaseUrl: config.databaseUrl }, (db) =>
        runAnchor({ db }, { file, keyFile, json: options.json === true, out: context.out }),
      );
    });

  program
    .command('replay')
    .description(
      'rebuild a read model (jobs, schedules) from the log and swap it in, while the product serves',
    )
    .argument('<projection>', 'the read model to rebuild: jobs or schedules')
    .option('--json', 'print one JSON document')
    .addHelpText('after', '\nExamples:\n  omni replay jobs\n  omni replay schedules')
    .action(async (projection: string, options: { json?: boolean }) => {
      const config = await configFrom(context);
      const { withDatabaseSession } = await import('./database-session.ts');
      const { runReplay } = await import('./replay.command.ts');
      context.exitCode = await withDatabaseSession({ databaseUrl: config.databaseUrl }, (db) =>
        runReplay(
          { db },
          {
            projection,
            json: options.json === true,
            out: context.out,
            progress: createProgressLine(context.err),
          },
        ),
      );
    });

  program
    .command('token')
    .description(
      'print a bearer token signed with JWT_SECRET (an hour, or JWT_MAX_TOKEN_AGE_SECONDS if less)',
    )
    .argument('[subject]', 'who the token names', 'dev-user')
    .argument('[tenant]', 'whose jobs it sees', 'default')
    .option('--admin', 'add the admin scope (the global log, verify, every tenant)')
    .option('--json', 'print { "token": … }')
    .addHelpText(
      'after',
      '\nExamples:\n  omni token alice team-a\n  export OMNI_TOKEN=$(omni token ops default --admin)',
    )
    .action(async (subject: string, tenant: string, options: { admin?: boolean; json?: boolean }) => {
      const config = await configFrom(context);
      if (!config.auth.jwtSecret)
        throw new CliError(
          {
            title: 'no signing key',
            code: 'jwt-secret-missing',
            detail:
              'JWT_SECRET is not set: there is no key to sign with (npm start prints a token of its own key)',
          },
          exitCodes.usage,
        );
      const { clientScopes, mintToken } = await import('../dev-token.ts');
      const token = await mintToken({
        secret: config.auth.jwtSecret,
        subject,
        tenant,
        // An hour, or less where the API accepts less (it refuses tokens without exp or living longer).
        ttlSeconds: Math.min(3600, config.auth.maxTokenAgeSeconds),
        ...(options.admin ? { scopes: [...clientScopes, 'admin'] } : {}),
        ...(config.auth.issuer === undefined ? {} : { issuer: config.auth.issuer }),
        ...(config.auth.audience === undefined ? {} : { audience: config.auth.audience }),
      });
      context.out.write(options.json ? `${JSON.stringify({ token })}\n` : `${token}\n`);
    });
}
