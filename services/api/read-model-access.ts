import type { Kysely } from 'kysely';
import type { Database } from '../../events/tables.ts';
import { ProblemError } from './problem.ts';
import { hasScope, type Principal } from './token-verifier.ts';

/** The jobs read model's database, or the 503 a route answers where none was given. */
export function readModelOf(db: Kysely<Database> | undefined): Kysely<Database> {
  if (!db)
    throw new ProblemError({
      status: 503,
      code: 'listing-unavailable',
      title: 'Listing is not available here',
    });
  return db;
}

/**
 * Which tenant a read of the read model covers: the caller's own, whatever it asked; an admin's
 * choice (`undefined`: every tenant).
 */
export const visibleTenant = (principal: Principal, requested: string | undefined): string | undefined =>
  hasScope(principal, 'admin') ? requested : principal.tenant;
