import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore, type EventStore, type NewEvent } from '../../events/event-store.ts';
import { replayProjection } from '../../events/projections/replay.ts';
import { executeJobCommand, loadJob, newJob } from '../../jobs/job-stream.ts';
import { createScheduleFiring, type FiringRound } from '../../schedules/schedule-firing.ts';
import { startScheduleFiringLoop } from '../../schedules/schedule-firing-loop.ts';
import { loadSchedule, scheduleStreamId } from '../../schedules/schedule-stream.ts';
import { schedulesProjection } from '../../schedules/schedules.projection.ts';
import { slotJobId } from '../../schedules/slot-job-id.ts';
import { eventReadSchemas } from '../../schemas/event-read-schemas.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';
import { call, createSchedule, firedSlots, scheduleEvents, settled } from './schedule-test-kit.ts';

let stack: TestStack;
let token: string;

beforeAll(async () => {
  // No workers: a fired job stays queued, which is what the overlap policies look at.
  stack = await startTestStack('schedule-firing', { withWorkers: false });
  token = await stack.token('alice', { tenant: 'acme' });
});
afterAll(() => stack?.stop());

/**
 * Fires one schedule as the loop would at instant `at` (a clock the test moves), leaving the
 * other tests' schedules alone; waits for the read model after it, as the next round would.
 */
function firingAt() {
  const firing = createScheduleFiring({
    db: stack.database.db,
    store: createEventStore(stack.database.db, { schemas: eventReadSchemas }),
  });
  return async (id: string, at: string) => {
    const outcome = await firing.fireSchedule(id, new Date(at));
    await settled(stack, id);
    return outcome;
  };
}

const jobStatus = async (jobId: string) => (await loadJob(stack.store, jobId)).state.status;

describe('every second, with two firing loops', () => {
  it('fires each slot exactly once while both run and after one stops mid-run', async () => {
    const startAt = new Date(Math.ceil(Date.now() / 1000) * 1000 + 1000);
    const { id } = await createSchedule(stack, token, {
      intervalMs: 1000,
      startAt: startAt.toISOString(),
      catchUp: 'run-all',
      maxCatchUp: 100,
      overlap: 'allow',
    });
    const store = createEventStore(stack.database.db, { schemas: eventReadSchemas });
    const rounds: FiringRound[] = [];
    const loop = () =>
      startScheduleFiringLoop({
        db: stack.database.db,
        store,
        isActive: () => true,
        intervalMs: 20,
        onRound: (round) => rounds.push(round),
        onError: (error) => {
          throw error;
        },
      });
    const first = loop();
    const second = loop();
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    await first.stop();
    const stoppedAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await second.stop();

    const slots = await firedSlots(stack.store, id);
    expect(slots.length).toBeGreaterThanOrEqual(4);
    // Slots fired while both ran, and after the first stopped.
    expect(Date.parse(slots[0] ?? '')).toBeLessThan(stoppedAt);
    expect(Date.parse(slots.at(-1) ?? '')).toBeGreaterThan(stoppedAt + 1_000);
    expect(new Set(slots).size).toBe(slots.length);
    // Consecutive seconds from startAt on: none skipped, none twice.
    expect(slots).toEqual(slots.map((_, index) => new Date(startAt.getTime() + index * 1000).toISOString()));
    for (const slot of slots) {
      const { state, events } = await loadJob(stack.store, slotJobId(id, slot));
      expect(events.filter((event) => event.type === 'JobSubmitted')).toHaveLength(1);
      expect(state.status === 'initial' ? undefined : state.spec.schedule).toEqual({ id, slot });
    }
    expect(await scheduleEvents(stack.store, id, 'ScheduleSlotSkipped')).toEqual([]);
    // Both loops took rounds; two of them racing for one slot leaves one append and one conflict.
    expect(rounds.reduce((sum, round) => sum + round.fired, 0)).toBe(slots.length);
  });

  it('after a crash between submitting the job and recording the slot, the retry records it once', async () => {
    const { id } = await createSchedule(stack, token, {
      cron: '* * * * *',
      startAt: '2026-02-01T10:00:00Z',
      overlap: 'allow',
    });
    const slot = '2026-02-01T10:00:00.000Z';
    // What the crashed firer got done: the slot's job, under the slot's id, and no ScheduleFired.
    const { state } = await loadSchedule(stack.database.db, id);
    if (state.status === 'initial') throw new Error('no schedule');
    await executeJobCommand(
      stack.store,
      slotJobId(id, slot),
      { type: 'SubmitJob', spec: { ...state.definition.spec, schedule: { id, slot } }, now: new Date() },
      { tenant: 'acme', actor: 'alice' },
      newJob,
    );
    const fire = firingAt();
    expect(await fire(id, '2026-02-01T10:00:00.300Z')).toMatchObject([
      { type: 'ScheduleFired', data: { slot, jobId: slotJobId(id, slot) } },
    ]);
    expect(await firedSlots(stack.store, id)).toEqual([slot]);
    const { events } = await loadJob(stack.store, slotJobId(id, slot));
    expect(events.filter((event) => event.type === 'JobSubmitted')).toHaveLength(1);
  });
});

describe('a firer that loses the race for a slot', () => {
  const slot = '2026-02-05T10:00:00.000Z';

  /** The real store, with another firer's append landing just before this firer's first one. */
  function racedBy(id: string, competing: NewEvent): EventStore {
    const real = createEventStore(stack.database.db, { schemas: eventReadSchemas });
    let raced = false;
    return {
      ...real,
      async append(streamId, version, events) {
        if (!raced && streamId === scheduleStreamId(id)) {
          raced = true;
          await real.append(streamId, version, [competing]);
        }
        return real.append(streamId, version, events);
      },
    };
  }

  it('cancels the job it submitted for a slot the winner passed without firing', async () => {
    const { id } = await createSchedule(stack, token, { cron: '* * * * *', startAt: '2026-02-05T10:00:00Z' });
    // The winner, on a clock 90 s later, found 10:00 missed and skipped it.
    const skipped = { slot, firstSlot: slot, count: 1, reason: 'missed' };
    const store = racedBy(id, { type: 'ScheduleSlotSkipped', schemaVersion: 1, data: skipped });
    const firing = createScheduleFiring({ db: stack.database.db, store });
    expect(await firing.fireSchedule(id, new Date('2026-02-05T10:00:00.200Z'))).toBe('conflict');
    const { state } = await loadJob(stack.store, slotJobId(id, slot));
    expect(state).toMatchObject({
      status: 'cancelled',
      reason: expect.stringMatching(/recorded without this job/),
    });
    expect(await firedSlots(stack.store, id)).toEqual([]);
  });

  it('keeps the job of a slot the winner has not reached, and records it under the same id next round', async () => {
    const { id } = await createSchedule(stack, token, { cron: '* * * * *', startAt: '2026-02-05T10:00:00Z' });
    const { state } = await loadSchedule(stack.database.db, id);
    if (state.status === 'initial') throw new Error('no schedule');
    const renamed = { ...state.definition, name: 'renamed', effectiveAt: '2026-02-05T09:59:00.000Z' };
    const store = racedBy(id, { type: 'ScheduleChanged', schemaVersion: 1, data: renamed });
    const firing = createScheduleFiring({ db: stack.database.db, store });
    expect(await firing.fireSchedule(id, new Date('2026-02-05T10:00:00.200Z'))).toBe('conflict');
    expect(await jobStatus(slotJobId(id, slot))).toBe('queued');
    expect(await firing.fireSchedule(id, new Date('2026-02-05T10:00:00.400Z'))).toMatchObject([
      { type: 'ScheduleFired', data: { slot, jobId: slotJobId(id, slot) } },
    ]);
    const { events } = await loadJob(stack.store, slotJobId(id, slot));
    expect(events.map((event) => event.type)).toEqual(['JobSubmitted']);
  });
});

describe('a missed hour (every minute; nothing ran from 10:00:30 to 11:00:30)', () => {
  async function missedHour(catchUp: 'skip' | 'run-once' | 'run-all') {
    const { id } = await createSchedule(stack, token, {
      cron: '* * * * *',
      startAt: '2026-02-02T10:00:00Z',
      catchUp,
      maxCatchUp: 5,
      overlap: 'allow',
    });
    const fire = firingAt();
    await fire(id, '2026-02-02T10:00:00.200Z');
    await fire(id, '2026-02-02T11:00:30.000Z');
    const skipped = await scheduleEvents(stack.store, id, 'ScheduleSlotSkipped');
    return { slots: await firedSlots(stack.store, id), skipped: skipped.map((event) => event.data) };
  }

  it('skip: the 59 missed slots become one skip; 11:00 fires on time', async () => {
    const { slots, skipped } = await missedHour('skip');
    expect(slots).toEqual(['2026-02-02T10:00:00.000Z', '2026-02-02T11:00:00.000Z']);
    expect(skipped).toEqual([
      {
        slot: '2026-02-02T10:59:00.000Z',
        firstSlot: '2026-02-02T10:01:00.000Z',
        count: 59,
        reason: 'missed',
      },
    ]);
  });

  it('run-once: 10:59 fires late, once, for all of them; 11:00 on time', async () => {
    const { slots, skipped } = await missedHour('run-once');
    expect(slots).toEqual([
      '2026-02-02T10:00:00.000Z',
      '2026-02-02T10:59:00.000Z',
      '2026-02-02T11:00:00.000Z',
    ]);
    expect(skipped).toMatchObject([{ count: 58, slot: '2026-02-02T10:58:00.000Z' }]);
  });

  it('run-all: the newest maxCatchUp (5) missed slots fire in order, the 54 older are skipped', async () => {
    const { slots, skipped } = await missedHour('run-all');
    expect(slots).toEqual([
      '2026-02-02T10:00:00.000Z',
      ...[55, 56, 57, 58, 59].map((minute) => `2026-02-02T10:${minute}:00.000Z`),
      '2026-02-02T11:00:00.000Z',
    ]);
    expect(skipped).toMatchObject([{ count: 54, slot: '2026-02-02T10:54:00.000Z' }]);
  });
});

describe('overlap, the previous slot’s job still queued (no workers run)', () => {
  async function twoSlots(overlap: 'allow' | 'skip-if-running' | 'cancel-previous') {
    const { id } = await createSchedule(stack, token, {
      cron: '* * * * *',
      startAt: '2026-02-03T10:00:00Z',
      overlap,
    });
    const fire = firingAt();
    await fire(id, '2026-02-03T10:00:00.100Z');
    await fire(id, '2026-02-03T10:01:00.100Z');
    return {
      id,
      first: slotJobId(id, '2026-02-03T10:00:00.000Z'),
      second: slotJobId(id, '2026-02-03T10:01:00.000Z'),
      fire,
    };
  }

  it('allow: both jobs queue side by side', async () => {
    const { first, second } = await twoSlots('allow');
    expect([await jobStatus(first), await jobStatus(second)]).toEqual(['queued', 'queued']);
  });

  it('skip-if-running: the second slot is skipped naming the queued job, and fires again once it ended', async () => {
    const { id, first, second, fire } = await twoSlots('skip-if-running');
    expect(await jobStatus(second)).toBe('initial');
    expect((await scheduleEvents(stack.store, id, 'ScheduleSlotSkipped')).map((event) => event.data)).toEqual(
      [
        {
          slot: '2026-02-03T10:01:00.000Z',
          firstSlot: '2026-02-03T10:01:00.000Z',
          count: 1,
          reason: 'overlap',
          runningJobId: first,
        },
      ],
    );
    expect((await call(stack, token, 'POST', `/v1/jobs/${first}/cancel`, {})).status).toBe(200);
    await fire(id, '2026-02-03T10:02:00.100Z');
    expect(await firedSlots(stack.store, id)).toEqual([
      '2026-02-03T10:00:00.000Z',
      '2026-02-03T10:02:00.000Z',
    ]);
  });

  it('cancel-previous: the second slot fires and cancels the first job', async () => {
    const { id, first, second } = await twoSlots('cancel-previous');
    expect([await jobStatus(first), await jobStatus(second)]).toEqual(['cancelled', 'queued']);
    const [, fired] = await scheduleEvents(stack.store, id, 'ScheduleFired');
    expect(fired?.data).toMatchObject({ jobId: second, cancelledJobId: first });
  });
});

describe('pause and resume', () => {
  it('fires nothing while paused and, resumed, only slots after the resume', async () => {
    const { id } = await createSchedule(stack, token, {
      intervalMs: 1000,
      startAt: new Date(Date.now() - 10_000).toISOString(),
      catchUp: 'run-all',
      maxCatchUp: 100,
      overlap: 'allow',
    });
    const paused = await call(stack, token, 'PATCH', `/v1/schedules/${id}`, { paused: true });
    expect(paused.status).toBe(200);
    expect(await paused.json()).toMatchObject({ status: 'paused', nextSlotAt: null });
    await settled(stack, id);
    const fire = firingAt();
    await fire(id, new Date(Date.now() + 5_000).toISOString());
    expect(await firedSlots(stack.store, id)).toEqual([]);

    const resumed = await call(stack, token, 'PATCH', `/v1/schedules/${id}`, { paused: false });
    expect(resumed.status).toBe(200);
    await settled(stack, id);
    const [resumeEvent] = await scheduleEvents(stack.store, id, 'ScheduleResumed');
    if (!resumeEvent) throw new Error('the resume was not recorded');
    const resumedAt = Date.parse((resumeEvent.data as { resumedAt: string }).resumedAt);
    await fire(id, new Date(resumedAt + 2_500).toISOString());
    const slots = (await firedSlots(stack.store, id)).map(Date.parse);
    expect(slots.length).toBeGreaterThanOrEqual(2);
    expect(slots.every((slot) => slot > resumedAt)).toBe(true);
    expect(await scheduleEvents(stack.store, id, 'ScheduleSlotSkipped')).toEqual([]);
  });
});

describe('daylight saving time, through the read model (Europe/Berlin, 02:30 daily)', () => {
  it('fires 02:30 CET, 03:00 CEST on the day the clocks jump, then 02:30 CEST; in October 02:30 once', async () => {
    for (const [startAt, expected] of [
      [
        '2026-03-27T12:00:00Z',
        ['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z'],
      ],
      [
        '2026-10-23T12:00:00Z',
        ['2026-10-24T00:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z'],
      ],
    ] as const) {
      const { id } = await createSchedule(stack, token, {
        cron: '30 2 * * *',
        timeZone: 'Europe/Berlin',
        startAt,
        // No worker ends the jobs; only the slots matter here.
        overlap: 'allow',
      });
      const fire = firingAt();
      // Each round a second after the slot the read model names next, as a loop on a real clock would see it.
      for (let day = 0; day < 3; day += 1) {
        const view = (await (await call(stack, token, 'GET', `/v1/schedules/${id}`)).json()) as {
          nextSlotAt: string;
        };
        await fire(id, new Date(Date.parse(view.nextSlotAt) + 1_000).toISOString());
      }
      expect(await firedSlots(stack.store, id)).toEqual(expected);
    }
  });
});

describe('the jobs a schedule submits', () => {
  it('carry the schedule and slot, belong to its owner and tenant, and are hidden from other tenants', async () => {
    const { id } = await createSchedule(stack, token, { cron: '* * * * *', startAt: '2026-02-04T10:00:00Z' });
    await firingAt()(id, '2026-02-04T10:00:00.100Z');
    const jobId = slotJobId(id, '2026-02-04T10:00:00.000Z');
    const response = await call(stack, token, 'GET', `/v1/jobs/${jobId}`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      status: 'queued',
      submittedBy: 'alice',
      schedule: { id, slot: '2026-02-04T10:00:00.000Z' },
    });
    const intruder = await stack.token('mallory', { tenant: 'globex' });
    expect((await call(stack, intruder, 'GET', `/v1/jobs/${jobId}`)).status).toBe(404);
    const view = (await (await call(stack, token, 'GET', `/v1/schedules/${id}`)).json()) as object;
    expect(view).toMatchObject({
      lastFired: { slot: '2026-02-04T10:00:00.000Z', jobId },
      firedCount: 1,
      recent: [{ slot: '2026-02-04T10:00:00.000Z', outcome: 'fired', jobId, late: false }],
    });
  });
});

describe('the schedules read model', () => {
  it('is rebuilt by a replay of the log into the same rows', async () => {
    const rows = async () =>
      (
        await sql<Record<string, unknown>>`
          select id, tenant, status, name, created_at, next_slot_at, state, version, last_position
          from schedules order by id
        `.execute(stack.database.db)
      ).rows;
    const before = await rows();
    // Every test above left schedules (fired, skipped, paused, changed) behind.
    expect(before.length).toBeGreaterThan(10);
    const result = await replayProjection(stack.database.db, schedulesProjection);
    expect(result.events).toBeGreaterThan(before.length);
    expect(await rows()).toEqual(before);
  });
});
