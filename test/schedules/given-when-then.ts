import { expect } from 'vitest';
import { type ScheduleCommand, scheduleDecider } from '../../schedules/schedule.decider.ts';
import { foldSchedule, type ScheduleEventEnvelope } from '../../schedules/schedule.evolve.ts';
import type { ScheduleState } from '../../schedules/schedule.state.ts';
import { ScheduleDomainError } from '../../schedules/schedule-domain-error.ts';
import type { ScheduleDefinition, ScheduleEvent } from '../../schemas/schedule-events.schema.ts';

export const scheduleId = '0b3f8a52-1c2d-4e5f-8a9b-0c1d2e3f4a5b';

/** A past event; recorded at `recordedAt` (default 2026-01-01), by `alice` of tenant `acme`. */
export type GivenScheduleEvent = ScheduleEvent & { readonly recordedAt?: Date };

/** A definition to vary: a busybox echo every minute (UTC) from 10:00, run-once, skip-if-running. */
export const definition = (overrides: Partial<ScheduleDefinition> = {}): ScheduleDefinition => ({
  spec: {
    image: 'busybox',
    command: ['echo', 'tick'],
    env: {},
    timeoutMs: 1000,
    limits: { memoryBytes: 64 * 1024 * 1024, cpus: 1, pids: 64 },
  },
  timing: { cron: '* * * * *', timeZone: 'UTC' },
  catchUp: 'run-once',
  maxCatchUp: 10,
  overlap: 'skip-if-running',
  startAt: '2026-03-01T10:00:00.000Z',
  ...overrides,
});

export interface When {
  then(...expected: readonly ScheduleEvent[]): readonly ScheduleEvent[];
  thenMatch(...expected: readonly object[]): readonly ScheduleEvent[];
  thenNothing(): void;
  thenError(code: ScheduleDomainError['code']): void;
}

/** The schedule decider as given (past events) / when (a command) / then (events, nothing, or a refusal). */
export function given(...history: readonly GivenScheduleEvent[]) {
  const state: ScheduleState = foldSchedule(
    scheduleDecider.initialState(),
    history.map(
      ({ recordedAt, ...event }) =>
        ({
          ...event,
          streamId: `schedule-${scheduleId}`,
          recordedAt: recordedAt ?? new Date('2026-01-01T00:00:00Z'),
          actor: 'alice',
          tenant: 'acme',
        }) as ScheduleEventEnvelope,
    ),
  );
  return {
    state,
    when(command: ScheduleCommand): When {
      const decide = () => scheduleDecider.decide(command, state);
      return {
        // biome-ignore lint/suspicious/noThenProperty: given/when/then is the vocabulary of these tests
        then: (...expected) => {
          const events = decide();
          expect(events).toEqual(expected);
          return events;
        },
        thenMatch: (...expected) => {
          const events = decide();
          expect(events).toHaveLength(expected.length);
          expect(events).toMatchObject(expected);
          return events;
        },
        thenNothing: () => expect(decide()).toEqual([]),
        thenError: (code) => {
          expect(decide).toThrow(ScheduleDomainError);
          expect(decide).toThrow(expect.objectContaining({ code }));
        },
      };
    },
  };
}
