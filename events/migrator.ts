import type { Kysely } from 'kysely';
import { type Migration, type MigrationProvider, Migrator } from 'kysely/migration';
import * as eventStore from './migrations/0001-event-store.ts';
import * as serviceRole from './migrations/0002-service-role.ts';
import * as jobsReadModel from './migrations/0003-jobs-read-model.ts';
import * as appendWithoutCommitLock from './migrations/0004-append-without-commit-lock.ts';
import * as secrets from './migrations/0010-secrets.ts';
import * as idempotencyKeys from './migrations/0020-idempotency-keys.ts';
import * as jobLifecycle from './migrations/0021-job-lifecycle.ts';
import * as leanAppend from './migrations/0030-lean-append.ts';
import * as files from './migrations/0040-files.ts';
import * as appendBatch from './migrations/0050-append-batch.ts';
import * as unreadableEvents from './migrations/0060-unreadable-events.ts';
import * as appendOnlyThroughFunctions from './migrations/0061-append-only-through-functions.ts';
import * as verifyRuns from './migrations/0062-verify-runs.ts';
import * as jobLabels from './migrations/0063-job-labels.ts';
import * as webhooks from './migrations/0064-webhooks.ts';
import * as schedules from './migrations/0070-schedules.ts';
import * as blobStaging from './migrations/0071-blob-staging.ts';
import * as jobsByTime from './migrations/0072-jobs-by-time.ts';
import * as scheduleIdempotencyKeys from './migrations/0073-schedule-idempotency-keys.ts';
import * as webhookDeliveryRetention from './migrations/0074-webhook-delivery-retention.ts';
import * as appendBatchRowEstimate from './migrations/0075-append-batch-row-estimate.ts';

// Listed in code rather than read from a folder, so migrations work the same from any working
// directory and are checked by the type checker.
const migrations: Record<string, Migration> = {
  '0001-event-store': eventStore,
  '0002-service-role': serviceRole,
  '0003-jobs-read-model': jobsReadModel,
  '0004-append-without-commit-lock': appendWithoutCommitLock,
  '0010-secrets': secrets,
  '0020-idempotency-keys': idempotencyKeys,
  '0021-job-lifecycle': jobLifecycle,
  '0030-lean-append': leanAppend,
  '0040-files': files,
  '0050-append-batch': appendBatch,
  '0060-unreadable-events': unreadableEvents,
  '0061-append-only-through-functions': appendOnlyThroughFunctions,
  '0062-verify-runs': verifyRuns,
  '0063-job-labels': jobLabels,
  '0070-schedules': schedules,
  '0064-webhooks': webhooks,
  '0071-blob-staging': blobStaging,
  '0072-jobs-by-time': jobsByTime,
  '0073-schedule-idempotency-keys': scheduleIdempotencyKeys,
  '0074-webhook-delivery-retention': webhookDeliveryRetention,
  '0075-append-batch-row-estimate': appendBatchRowEstimate,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

/** Applies every pending migration; throws with the failing migration's name. */
// biome-ignore lint/suspicious/noExplicitAny: migrations run on any handle, before the tables they create exist
export async function migrateToLatest(db: Kysely<any>): Promise<readonly string[]> {
  const migrator = new Migrator({
    db,
    provider,
    migrationTableName: 'schema_migrations',
    migrationLockTableName: 'schema_migrations_lock',
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((result) => result.status === 'Error');
    throw new Error(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return (results ?? []).map((result) => result.migrationName);
}

/** Names of migrations not yet applied (for readiness checks). */
// biome-ignore lint/suspicious/noExplicitAny: as above
export async function pendingMigrations(db: Kysely<any>): Promise<readonly string[]> {
  const migrator = new Migrator({
    db,
    provider,
    migrationTableName: 'schema_migrations',
    migrationLockTableName: 'schema_migrations_lock',
  });
  const all = await migrator.getMigrations();
  return all.filter((migration) => migration.executedAt === undefined).map((migration) => migration.name);
}
