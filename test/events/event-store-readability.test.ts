import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore, type EventStore, type NewEvent } from '../../events/event-store.ts';
import { UnreadableEventError } from '../../events/event-store-errors.ts';
import { eventReadSchemas } from '../../schemas/event-read-schemas.ts';
import { createApp } from '../../services/api/app.ts';
import { mintToken } from '../../services/dev-token.ts';
import { createLogger } from '../../services/logger.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { testImage } from '../support/test-image.ts';
import { testPolicy } from '../support/test-policy.ts';
import { testSecret, testTokenVerifier } from '../support/test-stack.ts';

let database: TestDatabase;
let store: EventStore;

beforeAll(async () => {
  database = await createTestDatabase('store_readability');
  store = createEventStore(database.db, { schemas: eventReadSchemas });
});
afterAll(() => database?.destroy());

const rows = async () =>
  Number((await sql<{ n: string }>`select count(*) as n from events`.execute(database.db)).rows[0]?.n);

const spec = {
  image: 'omni-busybox:latest',
  command: ['true'],
  env: {},
  timeoutMs: 1000,
  limits: { memoryBytes: 1, cpus: 1, pids: 1 },
};
const submitted = (data: Record<string, unknown>, metadata = {}): NewEvent => ({
  type: 'JobSubmitted',
  schemaVersion: 1,
  data: { spec, ...data },
  metadata,
});

async function refusal(append: Promise<unknown>): Promise<UnreadableEventError> {
  const error = await append.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(UnreadableEventError);
  return error as UnreadableEventError;
}

describe('the store refuses an event its own readers would refuse', () => {
  it('refuses a date the read schema refuses, typed, and writes nothing of the append', async () => {
    const before = await rows();
    // What `new Date('9999-12-31T23:59:59-14:00').toISOString()` gives: a year past 9999.
    const error = await refusal(
      store.append(`job-${randomUUID()}`, 0, [
        submitted({}),
        submitted({ runAt: new Date('9999-12-31T23:59:59-14:00').toISOString() }),
      ]),
    );
    expect(error).toMatchObject({
      code: 'event-unreadable',
      eventType: 'JobSubmitted',
      pointer: '/data/runAt',
    });
    expect(await rows()).toBe(before);
  });

  it('reads the event as readers will: after the JSON round trip (NaN becomes null)', async () => {
    const before = await rows();
    const error = await refusal(
      store.append(`job-${randomUUID()}`, 0, [submitted({ spec: { ...spec, timeoutMs: Number.NaN } })]),
    );
    expect(error.pointer).toBe('/data/spec/timeoutMs');
    expect(await rows()).toBe(before);
  });

  it('refuses NUL and lone surrogates with the same typed error, with or without schemas', async () => {
    const plain = createEventStore(database.db);
    const before = await rows();
    const nul = await refusal(
      plain.append(`other-${randomUUID()}`, 0, [
        { type: 'Noted', schemaVersion: 1, data: { text: 'a\u0000b' } },
      ]),
    );
    expect(nul.pointer).toBe('/data/text');
    const surrogate = await refusal(
      store.append(`job-${randomUUID()}`, 0, [submitted({}, { actor: 'x\ud800' })]),
    );
    expect(surrogate.pointer).toBe('/metadata/actor');
    const key = await refusal(
      plain.append(`other-${randomUUID()}`, 0, [
        { type: 'Noted', schemaVersion: 1, data: { ['k\u0000']: 1 } },
      ]),
    );
    expect(key.pointer).toBe('/data/k\u0000');
    expect(await rows()).toBe(before);
  });

  it('fails only the unreadable append of a group commit; its neighbours commit', async () => {
    const before = await rows();
    const good = Array.from({ length: 5 }, () => store.append(`job-${randomUUID()}`, 0, [submitted({})]));
    const bad = refusal(
      store.append(`job-${randomUUID()}`, 0, [submitted({ expiresAt: '+010000-01-01T00:00:00.000Z' })]),
    );
    await expect(Promise.all(good)).resolves.toHaveLength(5);
    expect((await bad).pointer).toBe('/data/expiresAt');
    expect(await rows()).toBe(before + 5);
  });

  it('still accepts what readers can read, and types it knows no schema for', async () => {
    await store.append(`job-${randomUUID()}`, 0, [submitted({ runAt: '2030-01-01T00:00:00.000Z' })]);
    await store.append(`other-${randomUUID()}`, 0, [{ type: 'Noted', schemaVersion: 7, data: { any: 1 } }]);
  });
});

describe('the API and an event the store refuses', () => {
  it('answers a problem (not a raw 500 with SQL) and writes nothing', async () => {
    // An operator default no client bound covers: NaN would be stored as null, which no reader reads.
    const policy = { ...testPolicy, defaults: { ...testPolicy.defaults, timeoutMs: Number.NaN } };
    const app = createApp({
      store,
      policy,
      verifyToken: testTokenVerifier,
      logger: createLogger('silent'),
    });
    const before = await rows();
    const response = await app.request('/v1/jobs', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await mintToken({ secret: testSecret, subject: 'operator-error' })}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ image: testImage, command: ['true'] }),
    });
    expect(response.status).toBe(422);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    const problem = (await response.json()) as { code: string; detail: string };
    expect(problem.code).toBe('event-unreadable');
    expect(problem.detail).toContain('/data/spec/timeoutMs');
    expect(await rows()).toBe(before);
  });
});
