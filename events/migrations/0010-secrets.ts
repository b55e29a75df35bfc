import { type Kysely, sql } from 'kysely';

/**
 * Tenants' secrets, encrypted at rest. A mutable table on purpose: values must never enter the
 * immutable log, which records only that a secret was stored (name, key id), not its value.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table secrets (
      tenant text not null,
      name text not null,
      -- Which key encrypted the value, so keys can rotate without re-encrypting everything at once.
      key_id text not null,
      -- AES-256-GCM: 12-byte nonce, ciphertext, 16-byte tag; (tenant, name) is the associated data.
      nonce bytea not null,
      ciphertext bytea not null,
      tag bytea not null,
      updated_at timestamptz not null default now(),
      primary key (tenant, name)
    )
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table secrets`.execute(db);
}
