import { type Kysely, sql } from 'kysely';
import { createDatabase } from '../../events/database.ts';
import type { Database } from '../../events/tables.ts';
import { ensureDatabase } from '../ensure-database.ts';
import { CliError, networkReason } from './cli-error.ts';
import { exitCodes } from './exit-codes.ts';

const redacted = (url: string) => url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');

/** A Postgres failure in words and an exit code: a missing database or schema is "not found". */
function databaseError(error: unknown, url: string): CliError {
  const code = (error as { code?: unknown }).code;
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  const where = redacted(url);
  if (code === '3D000')
    return new CliError(
      {
        title: 'no such database',
        code: 'database-not-found',
        detail: `${where}: database "${name}" does not exist (set DATABASE_URL to the product's database; omni migrate creates one)`,
      },
      exitCodes.refused,
    );
  if (code === '42P01')
    return new CliError(
      {
        title: 'not an omni database',
        code: 'schema-missing',
        detail: `${where} has no event store (omni migrate creates it)`,
      },
      exitCodes.refused,
    );
  if (code === '28P01' || code === '28000')
    return new CliError(
      {
        title: 'Postgres refused the login',
        code: 'database-refused',
        detail: `${where}: ${(error as Error).message}`,
      },
      exitCodes.refused,
    );
  return new CliError(
    {
      title: `cannot reach Postgres at ${where}`,
      code: 'database-unreachable',
      detail: networkReason(error),
    },
    exitCodes.unreachable,
  );
}

export interface DatabaseSessionOptions {
  readonly databaseUrl: string;
  /** Create the database when it is missing: only `omni migrate` does; reading never creates. */
  readonly create?: boolean;
}

/**
 * Runs `work` with a connection pool to the product's database and closes it after. The database
 * must exist and hold the event store (unless `create`): a read-only command never creates one.
 */
export async function withDatabaseSession<T>(
  options: DatabaseSessionOptions,
  work: (db: Kysely<Database>) => Promise<T>,
): Promise<T> {
  if (options.create)
    await ensureDatabase(options.databaseUrl).catch((error: unknown) => {
      throw databaseError(error, options.databaseUrl);
    });
  const db = createDatabase({
    connectionString: options.databaseUrl,
    applicationName: 'omni-cli',
    maxConnections: 4,
  });
  try {
    await sql`select 1 ${options.create ? sql`` : sql`from events limit 0`}`
      .execute(db)
      .catch((error: unknown) => {
        throw databaseError(error, options.databaseUrl);
      });
    return await work(db);
  } finally {
    await db.destroy();
  }
}
