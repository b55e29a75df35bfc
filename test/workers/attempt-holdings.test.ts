import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAttemptHoldings } from '../../workers/lifecycle/attempt-holdings.ts';
import { createWorkerLeases } from '../../workers/lifecycle/worker-leases.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

// A busy worker's holds are written in groups (one statement for all slots), and each hold still
// resolves only once its row is there: the reconciler must never see a started attempt unheld.
let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('attempt_holdings');
});
afterAll(() => database?.destroy());

describe('attempt holdings', () => {
  it('holds 32 attempts made at once in a few statements, each seen by holds() once it resolves', async () => {
    const leases = createWorkerLeases(database.db);
    const workerId = `worker-${randomUUID()}`;
    await leases.renew(workerId, 60_000);
    // Counts the statements the holdings issue: each call of hold or drop is one.
    const statements: number[] = [];
    const holdings = createAttemptHoldings(
      {
        ...leases,
        hold: async (worker, attempts) => {
          statements.push(attempts.length);
          await leases.hold(worker, attempts);
        },
        drop: async (worker, attempts) => {
          statements.push(attempts.length);
          await leases.drop(worker, attempts);
        },
      },
      workerId,
    );
    const jobs = Array.from({ length: 32 }, () => randomUUID());
    await Promise.all(
      jobs.map(async (jobId) => {
        await holdings.hold(jobId, 1);
        // Resolved means written: the start may be appended now.
        expect(await leases.holds(workerId, jobId, 1)).toBe(true);
      }),
    );
    const holdStatements = statements.length;
    await Promise.all(jobs.map((jobId) => holdings.drop(jobId, 1)));
    for (const jobId of jobs) expect(await leases.holds(workerId, jobId, 1)).toBe(false);
    // The first goes alone (a lone caller waits for nothing), the other 31 together.
    expect(holdStatements).toBeLessThanOrEqual(2);
    expect(statements.length - holdStatements).toBeLessThanOrEqual(2);
    expect(statements.reduce((total, size) => total + size, 0)).toBe(64);
  });

  it('holds the same attempt twice in one group (a redelivered message) without refusing the group', async () => {
    const leases = createWorkerLeases(database.db);
    const workerId = `worker-${randomUUID()}`;
    await leases.renew(workerId, 60_000);
    const holdings = createAttemptHoldings(leases, workerId);
    const jobId = randomUUID();
    const other = randomUUID();
    // The first goes alone; the three after it share one statement, twice the same attempt.
    await Promise.all([
      holdings.hold(randomUUID(), 1),
      holdings.hold(jobId, 1),
      holdings.hold(jobId, 1),
      holdings.hold(other, 1),
    ]);
    expect(await leases.holds(workerId, jobId, 1)).toBe(true);
    expect(await leases.holds(workerId, other, 1)).toBe(true);
  });

  it('a failed group fails each of its holds, and the next group goes on', async () => {
    const leases = createWorkerLeases(database.db);
    const workerId = `worker-${randomUUID()}`;
    // No lease row: the insert selects nothing, so nothing is held, and holds() says so.
    const holdings = createAttemptHoldings(
      {
        ...leases,
        hold: async () => {
          throw new Error('Postgres is down');
        },
      },
      workerId,
    );
    await expect(holdings.hold(randomUUID(), 1)).rejects.toThrow('Postgres is down');
    const working = createAttemptHoldings(leases, workerId);
    await leases.renew(workerId, 60_000);
    const jobId = randomUUID();
    await working.hold(jobId, 2);
    expect(await leases.holds(workerId, jobId, 2)).toBe(true);
  });
});
