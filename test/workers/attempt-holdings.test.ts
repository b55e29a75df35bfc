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

  it('gathers drops made apart into one statement, each resolving once its row is gone', async () => {
    const leases = createWorkerLeases(database.db);
    const workerId = `worker-${randomUUID()}`;
    await leases.renew(workerId, 60_000);
    const drops: number[] = [];
    const holdings = createAttemptHoldings(
      {
        ...leases,
        drop: async (worker, attempts) => {
          drops.push(attempts.length);
          await leases.drop(worker, attempts);
        },
      },
      workerId,
    );
    const jobs = Array.from({ length: 12 }, () => randomUUID());
    for (const jobId of jobs) await holdings.hold(jobId, 1);
    const dropped: Promise<void>[] = [];
    // One every 5 ms, all within the gathering delay.
    for (const jobId of jobs) {
      dropped.push(holdings.drop(jobId, 1));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(await leases.holds(workerId, jobs[0] as string, 1)).toBe(true);
    await Promise.all(dropped);
    expect(drops).toEqual([12]);
    for (const jobId of jobs) expect(await leases.holds(workerId, jobId, 1)).toBe(false);
  });

  it('a hold made after a drop is never undone by it, whether the drop had been sent or not', async () => {
    const leases = createWorkerLeases(database.db);
    const workerId = `worker-${randomUUID()}`;
    await leases.renew(workerId, 60_000);
    let dropStarted: () => void = () => undefined;
    const sent = new Promise<void>((resolve) => {
      dropStarted = resolve;
    });
    const holdings = createAttemptHoldings(
      {
        ...leases,
        drop: async (worker, attempts) => {
          dropStarted();
          // A slow statement: the hold below arrives while it is being written.
          await new Promise((resolve) => setTimeout(resolve, 150));
          await leases.drop(worker, attempts);
        },
      },
      workerId,
    );
    // Not yet sent: held again at once, the drop is void.
    const waiting = randomUUID();
    await holdings.hold(waiting, 1);
    const voided = holdings.drop(waiting, 1);
    await holdings.hold(waiting, 1);
    await voided;
    // Being sent: the hold waits for the drop's statement, then writes its row.
    const inFlight = randomUUID();
    await holdings.hold(inFlight, 1);
    const dropping = holdings.drop(inFlight, 1);
    await sent;
    await holdings.hold(inFlight, 1);
    await dropping;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await leases.holds(workerId, waiting, 1)).toBe(true);
    expect(await leases.holds(workerId, inFlight, 1)).toBe(true);
  });

  it('a drop that failed is said and tried again with the next ones', async () => {
    const leases = createWorkerLeases(database.db);
    const workerId = `worker-${randomUUID()}`;
    await leases.renew(workerId, 60_000);
    const errors: unknown[] = [];
    let failures = 1;
    const holdings = createAttemptHoldings(
      {
        ...leases,
        drop: async (worker, attempts) => {
          if (failures-- > 0) throw new Error('Postgres is down');
          await leases.drop(worker, attempts);
        },
      },
      workerId,
      { onDropError: (error) => errors.push(error) },
    );
    const jobId = randomUUID();
    await holdings.hold(jobId, 1);
    // Answered after the failed try: nobody waits out an outage for a drop.
    await holdings.drop(jobId, 1);
    expect(errors).toEqual([new Error('Postgres is down')]);
    expect(await leases.holds(workerId, jobId, 1)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await leases.holds(workerId, jobId, 1)).toBe(false);
  });
});
