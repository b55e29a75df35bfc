import pg from 'pg';

/**
 * Creates the database named in the URL when it is missing, so a fresh machine needs no manual
 * `createdb`. Connects to the server's `postgres` maintenance database to do it.
 */
export async function ensureDatabase(connectionString: string): Promise<void> {
  const url = new URL(connectionString);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (name === '' || name === 'postgres') return;
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  // A session the server drops emits 'error' besides failing the awaited call; unheard, it would crash.
  client.on('error', () => undefined);
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (rowCount === 0) {
      await client
        .query(`create database "${name.replaceAll('"', '""')}"`)
        .catch((error: { code?: string }) => {
          // Another process created it between our check and our create.
          if (error.code !== '42P04') throw error;
        });
    }
  } finally {
    await client.end();
  }
}
