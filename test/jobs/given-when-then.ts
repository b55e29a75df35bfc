import { expect } from 'vitest';
import { type JobCommand, jobDecider } from '../../jobs/job.decider.ts';
import { foldJob, type JobEventEnvelope } from '../../jobs/job.evolve.ts';
import type { JobState } from '../../jobs/job.state.ts';
import { JobDomainError } from '../../jobs/job-domain-error.ts';
import type { JobEvent } from '../../schemas/job-events.schema.ts';

/** When every given event was recorded, unless it says otherwise. */
export const givenAt = new Date('2026-01-01T00:00:00.000Z');

/** A past event; `recordedAt` defaults to `givenAt`, `actor` and `tenant` to none. */
export type GivenEvent = JobEvent & Partial<Omit<JobEventEnvelope, keyof JobEvent>>;

export interface When {
  /** The command decides exactly these events, in this order; returns them for further checks. */
  then(...expected: readonly JobEvent[]): readonly JobEvent[];
  /** The command decides as many events as given, each matching its partial; returns them. */
  thenMatch(...expected: readonly object[]): readonly JobEvent[];
  /** The command is accepted and nothing happens: no event to append (an idempotent command). */
  thenNothing(): void;
  /** The command is refused with this JobDomainError code (and, when given, a message matching). */
  thenError(code: JobDomainError['code'], message?: RegExp): void;
}

export interface Given {
  /** The state the history folds into. */
  readonly state: JobState;
  when(command: JobCommand): When;
}

/**
 * The job decider tested as given (past events) / when (a command) / then (the events it decides,
 * nothing, or a refusal): `given(submitted, started).when(cancel).then(cancelled)`.
 */
export function given(...history: readonly GivenEvent[]): Given {
  const state = foldJob(
    jobDecider.initialState(),
    history.map((event) => ({ recordedAt: givenAt, ...event }) as JobEventEnvelope),
  );
  return {
    state,
    when: (command) => {
      const decide = () => jobDecider.decide(command, state);
      return {
        // Never awaited: the chain ends in an assertion, not in a promise.
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
        thenNothing: () => {
          expect(decide()).toEqual([]);
        },
        thenError: (code, message) => {
          expect(decide).toThrow(JobDomainError);
          expect(decide).toThrow(
            expect.objectContaining({
              code,
              ...(message === undefined ? {} : { message: expect.stringMatching(message) }),
            }),
          );
        },
      };
    },
  };
}
