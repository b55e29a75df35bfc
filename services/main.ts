#!/usr/bin/env node
import { parseArgs } from 'node:util';
import type { Kysely } from 'kysely';
import type { Database } from '../events/tables.ts';
import { createApiClient } from './cli/api-client.ts';
import type { Output } from './cli/output.ts';
import { type Config, ConfigError, loadConfig } from './config.ts';

// Commands are imported when used: `omni --help` or `omni token` should not load the whole product.

const usage = `usage: omni <command> [options]

Run the product (each until SIGTERM):
  all                      migrate, then API + dispatcher + worker in one process (\`npm start\`)
  api | dispatcher | worker | projector
                           one role; dispatcher and projector elect one active instance

Operate it (talk to Postgres, from DATABASE_URL):
  migrate                  apply database migrations
  verify [--anchor FILE --public-key PEM]
                           walk the hash chain of the whole log, and check it against signed
                           anchors; exit 1 where it breaks or at the first anchor that no longer holds
  anchor --anchor FILE --key PEM
                           append the next signed anchor of the log to FILE (Ed25519 key)
  replay <projection>      rebuild a read model (jobs) from the log and swap it in
  token [sub] [tenant] [--admin]
                           print a bearer token signed with JWT_SECRET

Use it (talk to the API at OMNI_URL, default http://127.0.0.1:3000, with OMNI_TOKEN):
  submit [--wait] [--timeout-ms N] [--input FILE-ID:PATH]... [--output PATTERN]... <image> -- <command...>
  files upload <path> [--name NAME] [--type MEDIA-TYPE]
                           store a file for jobs' inputs; prints its id
  artifacts download <job-id> [--dir DIR]
                           write the job's artifacts under DIR, checked against the log's SHA-256
  watch <job-id>           follow a job's events until it finishes; exit like the job
  events tail [--after CURSOR] [--type T,...] [--limit N]
                           follow the global log (admin token)

Options: --json for one JSON document (or JSON lines) instead of text for people.
`;

const stdout: Output = {
  write: (text) => process.stdout.write(text),
  color: process.stdout.isTTY === true && !process.env.NO_COLOR,
};
const stderr = { write: (text: string) => process.stderr.write(text) };

function apiClient() {
  const token = process.env.OMNI_TOKEN;
  if (!token) throw new ConfigError(['OMNI_TOKEN: required by client commands (omni token prints one)']);
  return createApiClient({ url: process.env.OMNI_URL ?? 'http://127.0.0.1:3000', token });
}

async function withDatabase(config: Config, run: (db: Kysely<Database>) => Promise<number>): Promise<number> {
  const { preflight } = await import('./cli/serve.command.ts');
  const { ensureDatabase } = await import('./ensure-database.ts');
  const { createDatabase } = await import('../events/database.ts');
  if (!(await preflight(config, ['postgres'], stderr))) return 1;
  await ensureDatabase(config.databaseUrl);
  const db = createDatabase({ connectionString: config.databaseUrl, applicationName: 'omni-cli' });
  try {
    return await run(db);
  } finally {
    await db.destroy();
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      admin: { type: 'boolean', default: false },
      wait: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      'timeout-ms': { type: 'string' },
      after: { type: 'string' },
      type: { type: 'string' },
      limit: { type: 'string' },
      input: { type: 'string', multiple: true },
      output: { type: 'string', multiple: true },
      name: { type: 'string' },
      dir: { type: 'string' },
      anchor: { type: 'string' },
      key: { type: 'string' },
      'public-key': { type: 'string' },
    },
  });
  const [command = 'all', ...rest] = positionals;
  if (values.help || command === 'help') {
    stdout.write(usage);
    return 0;
  }
  const json = values.json;

  switch (command) {
    case 'submit': {
      const [image, ...cmd] = rest;
      if (!image || cmd.length === 0) throw new ConfigError(['usage: omni submit <image> -- <command...>']);
      const timeoutMs = values['timeout-ms'] === undefined ? undefined : Number(values['timeout-ms']);
      const inputs = (values.input ?? []).map((entry) => {
        const separator = entry.indexOf(':');
        if (separator < 1) throw new ConfigError([`--input ${entry}: expected FILE-ID:PATH`]);
        return { file: entry.slice(0, separator), path: entry.slice(separator + 1) };
      });
      const { runSubmit } = await import('./cli/submit.command.ts');
      return runSubmit(
        apiClient(),
        {
          image,
          command: cmd,
          wait: values.wait,
          json,
          ...(timeoutMs ? { timeoutMs } : {}),
          ...(inputs.length > 0 ? { inputs } : {}),
          ...(values.output && values.output.length > 0 ? { outputs: values.output } : {}),
        },
        stdout,
      );
    }
    case 'files': {
      if (rest[0] !== 'upload' || !rest[1])
        throw new ConfigError(['usage: omni files upload <path> [--name NAME] [--type MEDIA-TYPE]']);
      const { runFilesUpload } = await import('./cli/files-upload.command.ts');
      return runFilesUpload(
        apiClient(),
        {
          path: rest[1],
          json,
          ...(values.name ? { name: values.name } : {}),
          ...(values.type ? { contentType: values.type } : {}),
        },
        stdout,
      );
    }
    case 'artifacts': {
      if (rest[0] !== 'download' || !rest[1])
        throw new ConfigError(['usage: omni artifacts download <job-id> [--dir DIR]']);
      const { runArtifactsDownload } = await import('./cli/artifacts-download.command.ts');
      return runArtifactsDownload(
        apiClient(),
        { jobId: rest[1], directory: values.dir ?? '.', json },
        stdout,
      );
    }
    case 'watch': {
      if (!rest[0]) throw new ConfigError(['usage: omni watch <job-id>']);
      const { runWatch } = await import('./cli/watch.command.ts');
      return runWatch(apiClient(), { jobId: rest[0], json }, stdout);
    }
    case 'events': {
      if (rest[0] !== 'tail')
        throw new ConfigError(['usage: omni events tail [--after CURSOR] [--type T,...]']);
      const { runEventsTail } = await import('./cli/events-tail.command.ts');
      return runEventsTail(
        apiClient(),
        {
          json,
          ...(values.after ? { after: values.after } : {}),
          ...(values.type ? { types: values.type.split(',') } : {}),
          ...(values.limit ? { limit: Number(values.limit) } : {}),
        },
        stdout,
      );
    }
    default:
      break;
  }

  const config = loadConfig(process.env);
  if (['all', 'api', 'dispatcher', 'worker', 'projector', 'webhooks'].includes(command)) {
    const { runServe } = await import('./cli/serve.command.ts');
    return runServe(command as Parameters<typeof runServe>[0], config, stdout, stderr);
  }
  switch (command) {
    case 'migrate':
      return withDatabase(config, async (db) => {
        const { migrateToLatest } = await import('../events/migrator.ts');
        const applied = await migrateToLatest(db);
        stdout.write(
          json
            ? `${JSON.stringify({ applied })}\n`
            : applied.length
              ? `applied: ${applied.join(', ')}\n`
              : 'migrations are current\n',
        );
        return 0;
      });
    case 'verify':
      return withDatabase(config, async (db) => {
        const { configuredBlobStore } = await import('../files/configured-blob-store.ts');
        const blobs = configuredBlobStore(config.files, db);
        const anchorFile = values.anchor ?? process.env.ANCHOR_FILE;
        const publicKeyFile = values['public-key'] ?? process.env.ANCHOR_PUBLIC_KEY_FILE;
        if (values['public-key'] && !anchorFile) throw new ConfigError(['--public-key needs --anchor FILE']);
        if (values.anchor && !publicKeyFile) throw new ConfigError(['--anchor needs --public-key PEM']);
        const anchors = anchorFile && publicKeyFile ? { anchors: { file: anchorFile, publicKeyFile } } : {};
        return (await import('./cli/verify.command.ts')).runVerify(
          { db, blobs },
          { json, out: stdout, ...anchors },
        );
      });
    case 'anchor': {
      const file = values.anchor ?? process.env.ANCHOR_FILE;
      const keyFile = values.key ?? process.env.ANCHOR_KEY_FILE;
      if (!file || !keyFile) throw new ConfigError(['usage: omni anchor --anchor FILE --key PEM']);
      return withDatabase(config, async (db) =>
        (await import('./cli/anchor.command.ts')).runAnchor({ db }, { file, keyFile, json, out: stdout }),
      );
    }
    case 'replay':
      if (!rest[0]) throw new ConfigError(['usage: omni replay <projection>']);
      return withDatabase(config, async (db) =>
        (await import('./cli/replay.command.ts')).runReplay(
          { db },
          { projection: rest[0] as string, json, out: stdout },
        ),
      );
    case 'token': {
      if (!config.auth.jwtSecret) {
        stderr.write('JWT_SECRET is not set: there is no key to sign with\n');
        return 2;
      }
      const { clientScopes, mintToken } = await import('./dev-token.ts');
      const token = await mintToken({
        secret: config.auth.jwtSecret,
        subject: rest[0] ?? 'dev-user',
        tenant: rest[1] ?? 'default',
        // An hour, or less where the API accepts less (it refuses tokens without exp or living longer).
        ttlSeconds: Math.min(3600, config.auth.maxTokenAgeSeconds),
        ...(values.admin ? { scopes: [...clientScopes, 'admin'] } : {}),
        ...(config.auth.issuer === undefined ? {} : { issuer: config.auth.issuer }),
        ...(config.auth.audience === undefined ? {} : { audience: config.auth.audience }),
      });
      stdout.write(json ? `${JSON.stringify({ token })}\n` : `${token}\n`);
      return 0;
    }
    default:
      stderr.write(`unknown command: ${command}\n\n${usage}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    if (error instanceof TypeError && (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`${error.message}\n\n${usage}`);
      process.exit(2);
    }
    process.stderr.write(
      `omni failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
