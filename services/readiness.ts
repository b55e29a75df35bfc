import type Docker from 'dockerode';
import type { Redis } from 'ioredis';
import { type Kysely, sql } from 'kysely';
import { pendingMigrations } from '../events/migrator.ts';
import type { Database } from '../events/tables.ts';

export interface ReadinessDeps {
  readonly db: Kysely<Database>;
  readonly redis?: Redis;
  readonly docker?: Docker;
  readonly timeoutMs?: number;
}

type Check = { readonly ok: boolean; readonly detail?: string };

async function check(run: () => Promise<unknown>, timeoutMs: number): Promise<Check> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      run(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true };
  } catch (error) {
    // A short reason only: readiness is unauthenticated, so no addresses or SQL.
    return { ok: false, detail: error instanceof Error ? error.message.slice(0, 120) : 'unreachable' };
  } finally {
    clearTimeout(timer);
  }
}

/** Checks what this process depends on: Postgres, migrations, and Redis and Docker when it uses them. */
export function createReadinessCheck(deps: ReadinessDeps) {
  const timeoutMs = deps.timeoutMs ?? 2000;
  return async (): Promise<Record<string, Check>> => {
    const checks: Record<string, Promise<Check>> = {
      postgres: check(() => sql`select 1`.execute(deps.db), timeoutMs),
      migrations: check(async () => {
        const pending = await pendingMigrations(deps.db);
        if (pending.length > 0) throw new Error(`pending: ${pending.join(', ')}`);
      }, timeoutMs),
    };
    const { redis, docker } = deps;
    if (redis) checks.redis = check(() => redis.ping(), timeoutMs);
    if (docker) checks.docker = check(() => docker.ping(), timeoutMs);
    const entries = await Promise.all(
      Object.entries(checks).map(async ([name, result]) => [name, await result] as const),
    );
    return Object.fromEntries(entries);
  };
}
