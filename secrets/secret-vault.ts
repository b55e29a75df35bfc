import type { Kysely } from 'kysely';
import type { EventMetadata, EventStore } from '../events/event-store.ts';
import { composeStreamId } from '../events/stream-id.ts';
import type { Database } from '../events/tables.ts';
import { openSecret, type SecretKey, sealSecret } from './secret-cipher.ts';

export const secretNamePattern = /^[A-Za-z0-9_.-]{1,128}$/;

export interface SecretVault {
  /** Stores (or replaces) a secret and records `SecretStored` (name and key id, never the value). */
  put(tenant: string, name: string, value: string, metadata: EventMetadata): Promise<void>;
  /** Names of the tenant's secrets. */
  list(tenant: string): Promise<readonly string[]>;
  /** Which of `names` the tenant lacks. */
  missing(tenant: string, names: readonly string[]): Promise<readonly string[]>;
  /** Decrypted values by name; throws naming the first missing one. */
  reveal(tenant: string, names: readonly string[]): Promise<ReadonlyMap<string, string>>;
}

const associatedData = (tenant: string, name: string) => `${tenant}\u0000${name}`;

/**
 * The audit stream of one tenant's secret. Nothing reads these streams by id (appends expect no
 * version; the log's readers and verify see them in the global log), so streams written under the
 * old, ambiguous `secret-${tenant}-${name}` stay where they are and remain readable there.
 */
const secretStreamId = (tenant: string, name: string): string => composeStreamId('secret', tenant, name);

/** Secrets encrypted at rest in Postgres with the configured keys (the first one seals). */
export function createSecretVault(
  db: Kysely<Database>,
  store: EventStore,
  keys: readonly SecretKey[],
): SecretVault {
  return {
    async put(tenant, name, value, metadata) {
      const active = keys[0];
      if (!active) throw new Error('no secret key is configured');
      const sealed = sealSecret(active, associatedData(tenant, name), value);
      const row = {
        tenant,
        name,
        key_id: sealed.keyId,
        nonce: sealed.nonce,
        ciphertext: sealed.ciphertext,
        tag: sealed.tag,
      };
      await db
        .insertInto('secrets')
        .values(row)
        .onConflict((conflict) =>
          conflict
            .columns(['tenant', 'name'])
            .doUpdateSet({ key_id: row.key_id, nonce: row.nonce, ciphertext: row.ciphertext, tag: row.tag }),
        )
        .execute();
      await store.append(secretStreamId(tenant, name), null, [
        { type: 'SecretStored', schemaVersion: 1, data: { tenant, name, keyId: sealed.keyId }, metadata },
      ]);
    },

    async list(tenant) {
      const rows = await db
        .selectFrom('secrets')
        .select('name')
        .where('tenant', '=', tenant)
        .orderBy('name')
        .execute();
      return rows.map((row) => row.name);
    },

    async missing(tenant, names) {
      if (names.length === 0) return [];
      const rows = await db
        .selectFrom('secrets')
        .select('name')
        .where('tenant', '=', tenant)
        .where('name', 'in', [...names])
        .execute();
      const found = new Set(rows.map((row) => row.name));
      return names.filter((name) => !found.has(name));
    },

    async reveal(tenant, names) {
      const values = new Map<string, string>();
      if (names.length === 0) return values;
      const rows = await db
        .selectFrom('secrets')
        .selectAll()
        .where('tenant', '=', tenant)
        .where('name', 'in', [...names])
        .execute();
      for (const row of rows) {
        values.set(
          row.name,
          openSecret(keys, associatedData(tenant, row.name), {
            keyId: row.key_id,
            nonce: row.nonce,
            ciphertext: row.ciphertext,
            tag: row.tag,
          }),
        );
      }
      const absent = names.find((name) => !values.has(name));
      if (absent !== undefined) throw new Error(`secret ${absent} does not exist`);
      return values;
    },
  };
}

/**
 * Replaces every occurrence of a secret value in job output before it is stored. Values shorter
 * than 4 characters are left alone: masking them would shred ordinary output and reveal little.
 */
export function maskSecrets(text: string, values: Iterable<string>): string {
  let masked = text;
  for (const value of values) if (value.length >= 4) masked = masked.replaceAll(value, '[secret]');
  return masked;
}
