import { type RawBuilder, sql } from 'kysely';
import type { JobsFilter } from '../schemas/jobs-filter.schema.ts';

/** `%`, `_` and `\` stand for themselves in a search, not for ILIKE's wildcards. */
const likePattern = (words: string) => `%${words.replace(/[\\%_]/g, '\\$&')}%`;

/**
 * The conditions on the jobs read model a filter means, for the tenant the caller may see
 * (`undefined`: every tenant, an admin's view; the filter's own `tenant` is not consulted here:
 * only the caller's rights decide it). Each label is its own containment test, which the GIN
 * index on `labels` answers; every one must hold.
 */
export function jobsFilterConditions(filter: JobsFilter, tenant: string | undefined): RawBuilder<unknown>[] {
  return [
    tenant === undefined ? undefined : sql`tenant = ${tenant}`,
    filter.status ? sql`status = any(${filter.status}::text[])` : undefined,
    filter.image === undefined ? undefined : sql`image = ${filter.image}`,
    filter.submittedBy === undefined ? undefined : sql`submitted_by = ${filter.submittedBy}`,
    filter.submittedAfter === undefined ? undefined : sql`submitted_at >= ${filter.submittedAfter}::timestamptz`,
    filter.submittedBefore === undefined ? undefined : sql`submitted_at < ${filter.submittedBefore}::timestamptz`,
    ...(filter.label ?? []).map((label) => sql`labels @> ${JSON.stringify(label)}::jsonb`),
    filter.q === undefined
      ? undefined
      : sql`(command ilike ${likePattern(filter.q)} or labels::text ilike ${likePattern(filter.q)})`,
  ].filter((condition) => condition !== undefined);
}

/** `where a and b …`, or nothing when there is no condition. */
export const whereAll = (conditions: readonly RawBuilder<unknown>[]) =>
  conditions.length > 0 ? sql`where ${sql.join(conditions, sql` and `)}` : sql``;
