import { sql } from 'kysely';
import { expect } from 'vitest';
import type { EventStore, RecordedEvent } from '../../events/event-store.ts';
import { scheduleStreamId } from '../../schedules/schedule-stream.ts';
import type { ScheduleView } from '../../schedules/schedule-view.ts';
import { eventually } from '../support/eventually.ts';
import { testImage } from '../support/test-image.ts';
import type { TestStack } from '../support/test-stack.ts';

export const testJob = { image: testImage, command: ['true'] };

/** A request to the stack's API as the token's holder; JSON in, the response back. */
export function call(stack: TestStack, token: string, method: string, path: string, body?: unknown) {
  return stack.app.request(path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** POST /v1/schedules, expecting 201; waits until the read model holds it, as the firing loop needs. */
export async function createSchedule(stack: TestStack, token: string, body: object): Promise<ScheduleView> {
  const response = await call(stack, token, 'POST', '/v1/schedules', { job: testJob, ...body });
  expect(response.status, await response.clone().text()).toBe(201);
  const view = (await response.json()) as ScheduleView;
  await settled(stack, view.id);
  return view;
}

/** Waits until the schedules read model has folded the schedule's whole stream. */
export async function settled(stack: TestStack, id: string): Promise<void> {
  const head = async () => (await stack.store.readStream(scheduleStreamId(id))).at(-1)?.streamVersion ?? 0;
  const expected = await head();
  const row = await eventually(
    async () => {
      const { rows } = await sql<{ version: number }>`select version from schedules where id = ${id}`.execute(
        stack.database.db,
      );
      return rows[0]?.version ?? 0;
    },
    (version) => version >= expected,
  );
  expect(row).toBe(expected);
}

/** The schedule's events of the given types, in order. */
export async function scheduleEvents(
  store: EventStore,
  id: string,
  ...types: string[]
): Promise<RecordedEvent[]> {
  const events = await store.readStream(scheduleStreamId(id));
  return events.filter((event) => types.length === 0 || types.includes(event.type));
}

/** The slots a schedule recorded fired, oldest first. */
export async function firedSlots(store: EventStore, id: string): Promise<string[]> {
  return (await scheduleEvents(store, id, 'ScheduleFired')).map(
    (event) => (event.data as { slot: string }).slot,
  );
}
