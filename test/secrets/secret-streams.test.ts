import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore } from '../../events/event-store.ts';
import { composeStreamId } from '../../events/stream-id.ts';
import { createSecretVault } from '../../secrets/secret-vault.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { testSecretKey } from '../support/test-stack.ts';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase('secret_streams');
});
afterAll(() => database?.destroy());

describe('secret audit streams', () => {
  it('of tenant X / secret a-b and tenant X-a / secret b are two streams, each with its own event', async () => {
    const store = createEventStore(database.db);
    const vault = createSecretVault(database.db, store, [testSecretKey]);
    await vault.put('X', 'a-b', 'first-value', { actor: 'alice', tenant: 'X' });
    await vault.put('X-a', 'b', 'second-value', { actor: 'mallory', tenant: 'X-a' });

    // Straight from the table: a global read waits for every older transaction of the cluster.
    const stored = (
      await database.db
        .selectFrom('events')
        .select(['stream_id', 'stream_version', 'data'])
        .where('type', '=', 'SecretStored')
        .orderBy('global_position')
        .execute()
    ).map((row) => ({ streamId: row.stream_id, version: Number(row.stream_version), data: row.data }));
    expect(stored).toHaveLength(2);
    expect(new Set(stored.map((event) => event.streamId)).size).toBe(2);
    for (const event of stored) expect(event.version).toBe(1);
    expect(stored.map((event) => event.data)).toEqual([
      expect.objectContaining({ tenant: 'X', name: 'a-b' }),
      expect.objectContaining({ tenant: 'X-a', name: 'b' }),
    ]);
  });
});

describe('composeStreamId', () => {
  // Characters that matter (the separator, the escape) and a few that do not.
  const part = fc.string({ unit: fc.constantFrom('-', '%', '2', 'D', 'a', 'X', '_', '.'), maxLength: 6 });
  const tuple = fc.array(part, { minLength: 1, maxLength: 3 });

  it('gives distinct tuples distinct ids', () => {
    fc.assert(
      fc.property(tuple, tuple, (a, b) => {
        fc.pre(JSON.stringify(a) !== JSON.stringify(b));
        expect(composeStreamId('secret', ...a)).not.toBe(composeStreamId('secret', ...b));
      }),
      { numRuns: 5000 },
    );
  });

  it('keeps the old id of a tuple without - or %, and never gives a tuple the old id of another', () => {
    const oldId = (parts: readonly string[]) => ['secret', ...parts].join('-');
    // Old ids were only ever made from parts without % (tenants and secret names never allowed it).
    const oldPart = fc.string({ unit: fc.constantFrom('-', 'a', 'b', 'X'), maxLength: 6 });
    // A secret's stream always has two parts (tenant, name): the old ids of one category and arity
    // are what a new id could collide with. Across arities the old scheme was already ambiguous
    // (['-', ''] and ['', '', ''] both joined to secret---), and no category mixes arities.
    const pair = fc.array(part, { minLength: 2, maxLength: 2 });
    fc.assert(
      fc.property(fc.array(oldPart, { minLength: 2, maxLength: 2 }), pair, (old, current) => {
        fc.pre(JSON.stringify(old) !== JSON.stringify(current));
        expect(composeStreamId('secret', ...current)).not.toBe(oldId(old));
      }),
      { numRuns: 5000 },
    );
    expect(composeStreamId('secret', 'acme', 'api_key')).toBe('secret-acme-api_key');
  });
});
