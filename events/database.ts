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
  /**
   * Told when a pooled connection dies, idle or checked out (server restart, admin terminate);
   * default: ignored. The query it was running fails on its own; this is only the notice.
   */
  readonly onIdleConnectionError?: (error: Error) => void;
  /** How long a checkout may wait for a new connection before it fails; default 5 s. */
  readonly connectionTimeoutMs?: number;
}

/** Opens a pooled Kysely handle on the event store's database. */
export function createDatabase(options: DatabaseOptions): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.maxConnections ?? 10,
    application_name: options.applicationName ?? 'omni',
    // A forgotten open transaction would hold back pg_snapshot_xmin and stall every global reader.
    idle_in_transaction_session_timeout: 10_000,
    // An unreachable server (a blackholed address rather than a refused port) must fail a request
    // in seconds, not hold it until the client gives up.
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5_000,
  });
  // An idle connection that dies is dropped by the pool and replaced on the next checkout.
  pool.on('error', (error) => options.onIdleConnectionError?.(error));
  // The pool listens on idle clients only; a checked-out client whose server terminates it emits
  // 'error' with no listener, which crashes the process (a Postgres restart took every role down).
  // Its running query fails by itself and the pool discards it on release, so noting it is enough.
  pool.on('connect', (client) => {
    client.on('error', (error) => {
      if (client.listenerCount('error') === 1) options.onIdleConnectionError?.(error);
    });
  });
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
