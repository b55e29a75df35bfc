import { setTimeout as delay } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { isDatabaseUnavailable } from '../events/database-errors.ts';
import { pendingMigrations } from '../events/migrator.ts';
import type { Database } from '../events/tables.ts';

export interface WaitForSchemaOptions {
  readonly pollMs?: number;
  /** How often the wait is logged while it lasts. */
  readonly logEveryMs?: number;
  /** Gives up waiting (a SIGTERM during the wait). */
  readonly signal?: AbortSignal;
}

/**
 * Resolves once every migration this version knows is applied (true), or false when `signal`
 * aborts first. A role started before `omni migrate` (compose starts everything at once) waits
 * here instead of crash-looping on `relation "checkpoints" does not exist`.
 */
export async function waitForSchema(
  db: Kysely<Database>,
  logger: Logger,
  options: WaitForSchemaOptions = {},
): Promise<boolean> {
  const pollMs = options.pollMs ?? 1_000;
  const logEveryMs = options.logEveryMs ?? 5_000;
  let loggedAt = Number.NEGATIVE_INFINITY;
  while (!options.signal?.aborted) {
    let reason: string;
    let pending: readonly string[] = [];
    try {
      pending = await pendingMigrations(db);
      if (pending.length === 0) return true;
      reason = 'waiting for the schema: run `omni migrate`';
    } catch (error) {
      if (!isDatabaseUnavailable(error)) throw error;
      reason = 'waiting for the schema: the database is unreachable';
    }
    if (Date.now() - loggedAt >= logEveryMs) {
      loggedAt = Date.now();
      logger.warn({ pending }, reason);
    }
    // Ends early (without throwing) when the signal aborts: the loop then returns false.
    await delay(pollMs, undefined, { signal: options.signal }).catch(() => undefined);
  }
  return false;
}
