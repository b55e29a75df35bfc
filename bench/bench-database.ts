import pg from 'pg';

/** The server benchmarks make their databases on: the machine's Postgres unless overridden. */
export const benchServerUrl = process.env.BENCH_DATABASE_SERVER_URL ?? 'postgres://postgres@127.0.0.1:5432';

/** Runs one statement on the server's `postgres` database (create or drop a bench's own database). */
export async function onServer(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: `${benchServerUrl}/postgres` });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}
