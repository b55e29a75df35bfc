import type { Kysely } from 'kysely';
import type { RecordedEvent } from '../event-store.ts';
import type { Database } from '../tables.ts';

/**
 * A read model folded from the global log into one table. `apply` must be deterministic in the
 * events alone (no clock, no randomness): replay relies on folding the same log twice giving the
 * same rows.
 */
export interface Projection {
  /** The name `omni replay` takes. */
  readonly name: string;
  /** The checkpoint row this projection advances; never shared with a side-effecting subscriber. */
  readonly checkpointId: string;
  /** The live table readers query; replay builds a twin of it and swaps it in. */
  readonly table: string;
  /** Which events it folds, so the others are filtered out in the database. */
  readonly types?: readonly string[];
  readonly streamPrefix?: string;
  /** Top-level data keys it never reads, left out in the database (see ReadAllOptions). */
  readonly omitDataKeys?: readonly string[];
  /** Folds a batch into `table`, inside the caller's transaction (during replay, one per batch). */
  apply(db: Kysely<Database>, table: string, events: readonly RecordedEvent[]): Promise<void>;
}
