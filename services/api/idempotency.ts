import { createHash } from 'node:crypto';
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from '../../events/tables.ts';
import { invalidRequest, ProblemError } from './problem.ts';

/** JSON with object keys sorted, so two bodies that mean the same hash the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export const requestHash = (body: unknown): string =>
  createHash('sha256').update(canonical(body)).digest('hex');

/** An idempotency key: printable ASCII, 1..255 characters (as the IETF draft suggests). */
export const idempotencyKeyPattern = /^[\x21-\x7e]{1,255}$/;

/** Validates the header against `idempotencyKeyPattern`. */
export function parseIdempotencyKey(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (!idempotencyKeyPattern.test(header)) {
    throw invalidRequest('Idempotency-Key must be 1 to 255 printable ASCII characters', [
      { pointer: '/headers/idempotency-key', detail: 'invalid idempotency key' },
    ]);
  }
  return header;
}

export type IdempotentOutcome =
  | { readonly kind: 'created'; readonly id: string }
  | { readonly kind: 'replayed'; readonly id: string };

export interface IdempotencyScope {
  readonly tenant: string;
  readonly key: string;
  readonly hash: string;
  /** The job (or schedule) the request makes, should its key be new. */
  readonly id: string;
}

/** Where a kind of resource keeps its keys: jobs in `idempotency_keys`, schedules in their own. */
export interface IdempotencyTable {
  readonly table: 'idempotency_keys' | 'schedule_idempotency_keys';
  readonly idColumn: 'job_id' | 'schedule_id';
}

const jobKeys: IdempotencyTable = { table: 'idempotency_keys', idColumn: 'job_id' };
export const scheduleKeys: IdempotencyTable = { table: 'schedule_idempotency_keys', idColumn: 'schedule_id' };

/**
 * Claims (tenant, key) for `id` inside the caller's transaction: `created` when the key is new
 * (the caller then writes the job in the same transaction), `replayed` with the job the key already
 * names when the same request comes again. A concurrent claim waits on the row lock and then sees
 * the winner's job. The same key with another body is a 409, never a second job.
 */
export async function claimIdempotencyKey(
  trx: Transaction<Database>,
  scope: IdempotencyScope,
  keys: IdempotencyTable = jobKeys,
): Promise<IdempotentOutcome> {
  const table = sql.table(keys.table);
  const idColumn = sql.ref(keys.idColumn);
  const inserted = await sql<{ id: string }>`
    insert into ${table} (tenant, key, request_hash, ${idColumn})
    values (${scope.tenant}, ${scope.key}, ${scope.hash}, ${scope.id})
    on conflict (tenant, key) do nothing
    returning ${idColumn} as id
  `.execute(trx);
  if (inserted.rows.length === 1) return { kind: 'created', id: scope.id };
  const { rows } = await sql<{ id: string; request_hash: string }>`
    select ${idColumn} as id, request_hash from ${table}
    where tenant = ${scope.tenant} and key = ${scope.key}
  `.execute(trx);
  const existing = rows[0];
  if (!existing) throw new Error('idempotency key vanished');
  if (existing.request_hash !== scope.hash) {
    throw new ProblemError({
      status: 409,
      code: 'idempotency-key-reused',
      title: 'Idempotency key already used',
      detail: 'this Idempotency-Key was used with a different request body',
    });
  }
  return { kind: 'replayed', id: existing.id };
}

/** Runs `create` at most once per (tenant, key): the key row and the job's events commit in one transaction. */
export async function withIdempotencyKey(
  db: Kysely<Database>,
  scope: IdempotencyScope,
  create: (trx: Transaction<Database>) => Promise<void>,
  keys: IdempotencyTable = jobKeys,
): Promise<IdempotentOutcome> {
  return db.transaction().execute(async (trx) => {
    const outcome = await claimIdempotencyKey(trx, scope, keys);
    if (outcome.kind === 'created') await create(trx);
    return outcome;
  });
}
