import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createEventStore } from '../../events/event-store.ts';
import { type RunningProjection, startProjectionRunner } from '../../events/projections/projection-runner.ts';
import { loadJob } from '../../jobs/job-stream.ts';
import { resolveJobSpec } from '../../jobs/resolve-job-spec.ts';
import { executeScheduleCommand, newSchedule } from '../../schedules/schedule-stream.ts';
import { schedulesProjection } from '../../schedules/schedules.projection.ts';
import { slotJobId } from '../../schedules/slot-job-id.ts';
import { eventReadSchemas } from '../../schemas/event-read-schemas.ts';
import { createJobQueue } from '../../workers/job-queue.ts';
import { type RoleProcess, startRoleProcess } from '../support/role-process.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { testImage } from '../support/test-image.ts';
import { testPolicy } from '../support/test-policy.ts';
import { firedSlots } from './schedule-test-kit.ts';

// Two real dispatcher processes on this file's own database and queue prefix; one is SIGKILLed
// while a schedule fires every second. No workers: the jobs only need to exist, once each.

let database: TestDatabase;
let projection: RunningProjection;
const prefix = `test-${randomUUID()}`;
const processes: RoleProcess[] = [];

beforeAll(async () => {
  database = await createTestDatabase('schedule_dispatchers');
  // The read model the dispatchers ask which schedules are due (the API or projector role keeps it).
  projection = await startProjectionRunner({
    db: database.db,
    connectionString: database.url,
    projection: schedulesProjection,
    maxPollIntervalMs: 100,
  });
});
afterAll(async () => {
  for (const role of processes) await role.kill();
  await projection?.stop();
  const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
  const queue = createJobQueue({ connection: redis, prefix });
  await queue.obliterate({ force: true }).catch(() => undefined);
  await queue.close();
  redis.disconnect();
  await database?.destroy();
});

const dispatcher = () => {
  const role = startRoleProcess('dispatcher', {
    DATABASE_URL: database.url,
    REDIS_URL: 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: prefix,
    SANDBOX_IMAGES: testImage,
    LOG_LEVEL: 'info',
  });
  processes.push(role);
  return role;
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it('fires each slot of a schedule every second exactly once while the active dispatcher is killed', async () => {
  const store = createEventStore(database.db, { schemas: eventReadSchemas });
  const first = dispatcher();
  await first.waitFor(/now the active one/);
  // A standby prints nothing until it takes over; give it the time to start and wait on the lock.
  const second = dispatcher();
  await sleep(2_500);
  expect(second.child.exitCode).toBeNull();

  const id = randomUUID();
  const startAt = new Date(Math.ceil(Date.now() / 1000) * 1000 + 1000);
  await executeScheduleCommand(
    store,
    id,
    {
      type: 'CreateSchedule',
      definition: {
        spec: resolveJobSpec({ image: testImage, command: ['true'] }, testPolicy) as never,
        timing: { intervalMs: 1000 },
        catchUp: 'run-all',
        maxCatchUp: 100,
        overlap: 'allow',
        startAt: startAt.toISOString(),
      },
    },
    { actor: 'alice', tenant: 'acme' },
    newSchedule,
  );
  await sleep(3_500);
  const killedAt = Date.now();
  await first.kill('SIGKILL');
  await second.waitFor(/now the active one/, 30_000);
  await sleep(3_000);
  await second.kill('SIGTERM');

  const slots = await firedSlots(store, id);
  expect(slots).toEqual(slots.map((_, index) => new Date(startAt.getTime() + index * 1000).toISOString()));
  // Slots fired by the first, and by the second after the kill.
  expect(Date.parse(slots[0] ?? '')).toBeLessThan(killedAt);
  expect(Date.parse(slots.at(-1) ?? '')).toBeGreaterThan(killedAt + 1_000);
  for (const slot of slots) {
    const { events } = await loadJob(store, slotJobId(id, slot));
    expect(events.map((event) => event.type)).toEqual(['JobSubmitted']);
    expect(events[0]?.metadata).toMatchObject({ tenant: 'acme', actor: 'alice', scheduleId: id, slot });
  }
});
