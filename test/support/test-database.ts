import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { createDatabase } from '../../events/database.ts';
import { migrateToLatest } from '../../events/migrator.ts';
import type { Database } from '../../events/tables.ts';

/** The server tests run against; the machine's Postgres with trust auth unless overridden. */
export const testServerUrl = process.env.TEST_DATABASE_SERVER_URL ?? 'postgres://postgres@127.0.0.1:5432';

export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  readonly db: Kysely<Database>;
  /** Closes the pool and drops the database. */
  destroy(): Promise<void>;
}

async function admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: `${testServerUrl}/postgres` });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** A fresh, migrated database of its own for one test file. */
export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const name = `omni_test_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  await admin((client) => client.query(`create database ${name}`));
  const url = `${testServerUrl}/${name}`;
  const db = createDatabase({ connectionString: url, maxConnections: 20 });
  await migrateToLatest(db);
  return {
    url,
    name,
    db,
    async destroy() {
      await db.destroy();
      await admin((client) => client.query(`drop database if exists ${name} with (force)`));
    },
  };
}
