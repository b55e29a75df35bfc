import { describe, expect, it } from 'vitest';
import { nextSlotAt } from '../../schedules/schedules.projection.ts';
import { slotJobId } from '../../schedules/slot-job-id.ts';
import type { ScheduleEvent } from '../../schemas/schedule-events.schema.ts';
import { definition, given, scheduleId } from './given-when-then.ts';

const at = (iso: string) => new Date(iso);
const created = (overrides: Parameters<typeof definition>[0] = {}): ScheduleEvent => ({
  type: 'ScheduleCreated',
  data: definition(overrides),
});
const fired = (slot: string, late = false): ScheduleEvent => ({
  type: 'ScheduleFired',
  data: { slot, jobId: slotJobId(scheduleId, slot), late },
});
const fire = (now: string, previousJobActive = false) =>
  ({ type: 'FireDueSlots', now: at(now), previousJobActive }) as const;

describe('creating', () => {
  it('records the definition, and refuses a second creation of the same stream', () => {
    given().when({ type: 'CreateSchedule', definition: definition() }).then(created());
    given(created()).when({ type: 'CreateSchedule', definition: definition() }).thenError('schedule-exists');
  });
});

describe('firing on time', () => {
  it('fires the slot that just came, under the job id derived from schedule and slot', () => {
    given(created()).when(fire('2026-03-01T10:00:00.200Z')).then(fired('2026-03-01T10:00:00.000Z'));
  });

  it('fires nothing before startAt, nor twice for one slot', () => {
    given(created()).when(fire('2026-03-01T09:59:59.900Z')).thenNothing();
    given(created(), fired('2026-03-01T10:00:00.000Z')).when(fire('2026-03-01T10:00:40.000Z')).thenNothing();
  });

  it('derives a stable UUIDv5 per slot: the same slot gives the same job, another slot another', () => {
    const id = slotJobId(scheduleId, '2026-03-01T10:00:00.000Z');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(slotJobId(scheduleId, '2026-03-01T10:00:00.000Z')).toBe(id);
    expect(slotJobId(scheduleId, '2026-03-01T10:01:00.000Z')).not.toBe(id);
    expect(slotJobId('1b3f8a52-1c2d-4e5f-8a9b-0c1d2e3f4a5b', '2026-03-01T10:00:00.000Z')).not.toBe(id);
  });
});

describe('a missed hour (every minute, down from 10:00:30 to 11:00:30)', () => {
  const history = (catchUp: 'skip' | 'run-once' | 'run-all') => [
    created({ catchUp, overlap: 'allow' }),
    fired('2026-03-01T10:00:00.000Z'),
  ];
  const now = '2026-03-01T11:00:30.000Z';

  it('skip: records the 59 missed slots as one skip and fires the current one', () => {
    given(...history('skip'))
      .when(fire(now))
      .then(
        {
          type: 'ScheduleSlotSkipped',
          data: {
            slot: '2026-03-01T10:59:00.000Z',
            firstSlot: '2026-03-01T10:01:00.000Z',
            count: 59,
            reason: 'missed',
          },
        },
        fired('2026-03-01T11:00:00.000Z'),
      );
  });

  it('run-once: fires the newest missed slot late, skips the other 58, then fires the current one', () => {
    given(...history('run-once'))
      .when(fire(now))
      .then(
        {
          type: 'ScheduleSlotSkipped',
          data: {
            slot: '2026-03-01T10:58:00.000Z',
            firstSlot: '2026-03-01T10:01:00.000Z',
            count: 58,
            reason: 'missed',
          },
        },
        fired('2026-03-01T10:59:00.000Z', true),
        fired('2026-03-01T11:00:00.000Z'),
      );
  });

  it('run-all: fires the newest maxCatchUp (10) missed slots in order, skips the 49 older', () => {
    const events = given(...history('run-all'))
      .when(fire(now))
      .thenMatch(
        {
          type: 'ScheduleSlotSkipped',
          data: { slot: '2026-03-01T10:49:00.000Z', count: 49, reason: 'missed' },
        },
        ...Array.from({ length: 10 }, (_, index) => ({
          type: 'ScheduleFired',
          data: { slot: `2026-03-01T10:5${index}:00.000Z`, late: true },
        })),
        { type: 'ScheduleFired', data: { slot: '2026-03-01T11:00:00.000Z', late: false } },
      );
    expect(new Set(events.map((event) => ('jobId' in event.data ? event.data.jobId : ''))).size).toBe(12);
  });

  it('with nothing on time (the newest slot over a minute old), every due slot counts as missed', () => {
    given(
      created({ timing: { cron: '0 * * * *', timeZone: 'UTC' }, catchUp: 'skip' }),
      fired('2026-03-01T10:00:00.000Z'),
    )
      .when(fire('2026-03-01T13:30:00.000Z'))
      .then({
        type: 'ScheduleSlotSkipped',
        data: {
          slot: '2026-03-01T13:00:00.000Z',
          firstSlot: '2026-03-01T11:00:00.000Z',
          count: 3,
          reason: 'missed',
        },
      });
  });

  it('counts an interval’s missed slots by arithmetic however many (a year of seconds)', () => {
    given(created({ timing: { intervalMs: 1000 }, catchUp: 'skip' }), fired('2026-03-01T10:00:00.000Z'))
      .when(fire('2027-03-01T10:00:00.500Z'))
      .thenMatch(
        {
          type: 'ScheduleSlotSkipped',
          data: { count: 365 * 86_400 - 1, firstSlot: '2026-03-01T10:00:01.000Z' },
        },
        { type: 'ScheduleFired', data: { slot: '2027-03-01T10:00:00.000Z' } },
      );
  });
});

describe('overlap, when the previous slot’s job is still queued or running', () => {
  const previous = fired('2026-03-01T10:00:00.000Z');
  const previousJob = slotJobId(scheduleId, '2026-03-01T10:00:00.000Z');
  const next = '2026-03-01T10:01:00.100Z';

  it('skip-if-running: skips the slot and names the job still running', () => {
    given(created({ overlap: 'skip-if-running' }), previous)
      .when(fire(next, true))
      .then({
        type: 'ScheduleSlotSkipped',
        data: {
          slot: '2026-03-01T10:01:00.000Z',
          firstSlot: '2026-03-01T10:01:00.000Z',
          count: 1,
          reason: 'overlap',
          runningJobId: previousJob,
        },
      });
    given(created({ overlap: 'skip-if-running' }), previous)
      .when(fire(next, false))
      .then(fired('2026-03-01T10:01:00.000Z'));
  });

  it('allow: fires beside it', () => {
    given(created({ overlap: 'allow' }), previous)
      .when(fire(next, true))
      .then(fired('2026-03-01T10:01:00.000Z'));
  });

  it('cancel-previous: fires and names the job to cancel', () => {
    given(created({ overlap: 'cancel-previous' }), previous)
      .when(fire(next, true))
      .then({
        type: 'ScheduleFired',
        data: {
          slot: '2026-03-01T10:01:00.000Z',
          jobId: slotJobId(scheduleId, '2026-03-01T10:01:00.000Z'),
          late: false,
          cancelledJobId: previousJob,
        },
      });
  });

  it('skip-if-running during a catch-up: the first slot fires, the next ones meet its job running', () => {
    given(created({ overlap: 'skip-if-running', catchUp: 'run-all', maxCatchUp: 3 }), previous)
      .when(fire('2026-03-01T10:04:00.100Z', false))
      .thenMatch(
        { type: 'ScheduleFired', data: { slot: '2026-03-01T10:01:00.000Z', late: true } },
        { type: 'ScheduleSlotSkipped', data: { slot: '2026-03-01T10:02:00.000Z', reason: 'overlap' } },
        { type: 'ScheduleSlotSkipped', data: { slot: '2026-03-01T10:03:00.000Z', reason: 'overlap' } },
        { type: 'ScheduleSlotSkipped', data: { slot: '2026-03-01T10:04:00.000Z', reason: 'overlap' } },
      );
  });
});

describe('pause, resume, delete, change', () => {
  const paused: ScheduleEvent = { type: 'SchedulePaused', data: {} };

  it('a paused schedule fires nothing; resumed, it fires only slots after the resume', () => {
    given(created(), paused).when(fire('2026-03-01T10:00:00.200Z')).thenNothing();
    given(created(), paused)
      .when({ type: 'ResumeSchedule', now: at('2026-03-01T10:30:00.500Z') })
      .then({ type: 'ScheduleResumed', data: { resumedAt: '2026-03-01T10:30:00.500Z' } });
    const resumed: ScheduleEvent = {
      type: 'ScheduleResumed',
      data: { resumedAt: '2026-03-01T10:30:00.500Z' },
    };
    given(created(), paused, resumed).when(fire('2026-03-01T10:30:40.000Z')).thenNothing();
    given(created(), paused, resumed)
      .when(fire('2026-03-01T10:31:00.100Z'))
      .then(fired('2026-03-01T10:31:00.000Z'));
  });

  it('pausing a paused schedule or resuming an active one records nothing', () => {
    given(created(), paused).when({ type: 'PauseSchedule' }).thenNothing();
    given(created())
      .when({ type: 'ResumeSchedule', now: at('2026-03-01T10:00:00Z') })
      .thenNothing();
  });

  it('a deleted schedule fires nothing and refuses every other command as missing', () => {
    const deleted: ScheduleEvent = { type: 'ScheduleDeleted', data: {} };
    given(created()).when({ type: 'DeleteSchedule' }).then(deleted);
    given(created(), deleted).when(fire('2026-03-01T10:00:00.200Z')).thenNothing();
    given(created(), deleted).when({ type: 'DeleteSchedule' }).thenError('schedule-not-found');
    given(created(), deleted).when({ type: 'PauseSchedule' }).thenError('schedule-not-found');
    given().when({ type: 'PauseSchedule' }).thenError('schedule-not-found');
  });

  it('a new timing applies from the change on: slots of the old one due meanwhile do not fire', () => {
    const change = definition({ timing: { intervalMs: 5000 }, startAt: '2026-03-01T10:10:02.000Z' });
    given(created())
      .when({ type: 'ChangeSchedule', definition: change, now: at('2026-03-01T10:10:02.000Z') })
      .then({ type: 'ScheduleChanged', data: { ...change, effectiveAt: '2026-03-01T10:10:02.000Z' } });
    const changed: ScheduleEvent = {
      type: 'ScheduleChanged',
      data: { ...change, effectiveAt: '2026-03-01T10:10:02.000Z' },
    };
    // 10:00 … 10:10 of the cron never fire; the interval's first slot is its startAt.
    given(created(), changed).when(fire('2026-03-01T10:10:02.100Z')).then(fired('2026-03-01T10:10:02.000Z'));
    given(created())
      .when({ type: 'ChangeSchedule', definition: definition(), now: at('2026-03-01T10:10:02Z') })
      .thenNothing();
  });
});

describe('daylight saving time (Europe/Berlin, 02:30 daily)', () => {
  /** Each slot the decider fires when asked a second after each next slot the read model names. */
  function slotsFired(startAt: string, count: number): string[] {
    const history: ScheduleEvent[] = [
      created({ timing: { cron: '30 2 * * *', timeZone: 'Europe/Berlin' }, startAt, overlap: 'allow' }),
    ];
    const slots: string[] = [];
    while (slots.length < count) {
      const next = nextSlotAt(given(...history).state);
      if (next === null) throw new Error('the schedule has no next slot');
      const events = given(...history)
        .when(fire(new Date(Date.parse(next) + 1000).toISOString()))
        .thenMatch({
          type: 'ScheduleFired',
          data: { slot: next, late: false },
        });
      history.push(...events);
      slots.push(next);
    }
    return slots;
  }

  it('in March the missing 02:30 fires once at 03:00 CEST; in October the doubled 02:30 fires once', () => {
    expect(slotsFired('2026-03-27T01:31:00.000Z', 4)).toEqual([
      '2026-03-28T01:30:00.000Z',
      '2026-03-29T01:00:00.000Z',
      '2026-03-30T00:30:00.000Z',
      '2026-03-31T00:30:00.000Z',
    ]);
    expect(slotsFired('2026-10-23T00:31:00.000Z', 4)).toEqual([
      '2026-10-24T00:30:00.000Z',
      '2026-10-25T00:30:00.000Z',
      '2026-10-26T01:30:00.000Z',
      '2026-10-27T01:30:00.000Z',
    ]);
  });
});
