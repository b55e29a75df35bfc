import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './tables.ts';

// int8 (global positions, versions) fits easily in a JS number for this product's lifetime; parse it
// as one so callers never juggle strings.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number.parseInt(value, 10));

export interface DatabaseOptions {
  readonly connectionString: string;
  readonly maxConnections?: number;
  readonly applicationName?: string;
  /** Told when an idle pooled connection dies (server restart, admin terminate); default: ignored. */
  readonly onIdleConnectionError?: (error: Error) => void;
}

/** Opens a pooled Kysely handle on the event store's database. */
export function createDatabase(options: DatabaseOptions): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.maxConnections ?? 10,
    application_name: options.applicationName ?? 'omni',
    // A forgotten open transaction would hold back pg_snapshot_xmin and stall every global reader.
    idle_in_transaction_session_timeout: 10_000,
  });
  // An idle connection that dies is dropped by the pool and replaced on the next checkout; without a
  // listener its 'error' event would crash the process (a Postgres restart would take every role down).
  pool.on('error', (error) => options.onIdleConnectionError?.(error));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
