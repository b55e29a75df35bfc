import { type Kysely, sql } from 'kysely';

/** The role the services run as; see the grants below for what it may do. */
export const serviceRole = 'omni_service';

/**
 * The service role: it may append to and read the log, but holds no UPDATE, DELETE or TRUNCATE
 * grant on `events`, so the log is immutable by privilege as well as by trigger (a superuser can
 * disable a trigger; the service's credentials cannot).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Roles are cluster-wide and outlive any one database, so creation is idempotent and tolerates a
  // concurrent migration of another database creating it between the check and the create.
  // NOLOGIN: deployments grant it to their login user (`grant omni_service to omni`) and connect as
  // that user, so no password lives in a migration.
  await sql`
    do $$
    begin
      if not exists (select from pg_roles where rolname = 'omni_service') then
        create role omni_service nologin;
      end if;
    exception when duplicate_object or unique_violation then
      null;
    end
    $$
  `.execute(db);

  await sql`grant usage on schema public to omni_service`.execute(db);
  // INSERT alone is enough for the identity column: its sequence is advanced without a grant.
  await sql`grant select, insert on events to omni_service`.execute(db);
  // append_events moves the stream's version and last hash.
  await sql`grant select, insert, update on streams to omni_service`.execute(db);
  await sql`grant select, insert, update, delete on checkpoints to omni_service`.execute(db);
  await sql`grant execute on function append_events(text, bigint, jsonb) to omni_service`.execute(db);
  await sql`
    grant execute on function event_hash(bytea, text, bigint, uuid, text, integer, jsonb, jsonb, timestamptz)
    to omni_service
  `.execute(db);
  // Read models created later by the migrating user (and their replay rebuilds) are the service's
  // to maintain; `events` is not covered because it already exists.
  await sql`
    alter default privileges in schema public grant select, insert, update, delete on tables to omni_service
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // The role itself stays: other databases in the cluster may use it.
  await sql`alter default privileges in schema public revoke all on tables from omni_service`.execute(db);
  await sql`revoke all on events, streams, checkpoints from omni_service`.execute(db);
  await sql`revoke all on schema public from omni_service`.execute(db);
}
