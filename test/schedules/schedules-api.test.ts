import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConcurrencyError } from '../../events/event-store-errors.ts';
import { ScheduleDomainError } from '../../schedules/schedule-domain-error.ts';
import { executeScheduleCommand, loadSchedule } from '../../schedules/schedule-stream.ts';
import type { ScheduleView } from '../../schedules/schedule-view.ts';
import { clientScopes } from '../../services/dev-token.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';
import { call, createSchedule, scheduleEvents, settled, testJob } from './schedule-test-kit.ts';

let stack: TestStack;
let alice: string;

beforeAll(async () => {
  stack = await startTestStack('schedules-api', { withWorkers: false });
  alice = await stack.token('alice', { tenant: 'acme' });
});
afterAll(() => stack?.stop());

const post = (body: object, token = alice) =>
  call(stack, token, 'POST', '/v1/schedules', { job: testJob, ...body });

/** The pointers of a 400 problem's field errors. */
async function refusedAt(response: Response): Promise<string[]> {
  expect(response.status).toBe(400);
  expect(response.headers.get('content-type')).toContain('application/problem+json');
  const problem = (await response.json()) as { code: string; errors: { pointer: string }[] };
  expect(problem.code).toBe('validation-failed');
  return problem.errors.map((error) => error.pointer);
}

describe('creating', () => {
  it('answers 201 with the schedule, its defaults and its next slot, and a Location', async () => {
    const response = await post({
      name: 'nightly',
      cron: '30 2 * * *',
      timeZone: 'Europe/Berlin',
      startAt: '2026-12-24T12:00:00Z',
    });
    expect(response.status).toBe(201);
    const view = (await response.json()) as ScheduleView;
    expect(response.headers.get('location')).toBe(`/v1/schedules/${view.id}`);
    expect(view).toMatchObject({
      name: 'nightly',
      status: 'active',
      cron: '30 2 * * *',
      timeZone: 'Europe/Berlin',
      intervalMs: null,
      catchUp: 'run-once',
      maxCatchUp: 10,
      overlap: 'skip-if-running',
      nextSlotAt: '2026-12-25T01:30:00.000Z',
      createdBy: 'alice',
      job: { image: testJob.image, command: ['true'] },
    });
  });

  it('refuses, with a pointer to each field, what the bounds do not allow', async () => {
    const cases: [object, string][] = [
      [{ cron: '61 * * * *' }, '/cron'],
      [{ cron: '* * * *' }, '/cron'],
      [{ cron: '0 0 30 2 *' }, '/cron'],
      [{ cron: '* * * * * * 2027' }, '/cron'],
      [{ cron: '* * * * *', timeZone: 'Mars/Olympus_Mons' }, '/timeZone'],
      [{ intervalMs: 999 }, '/intervalMs'],
      [{ intervalMs: 366 * 24 * 3600 * 1000 }, '/intervalMs'],
      [{ intervalMs: 1000, timeZone: 'UTC' }, '/timeZone'],
      [{}, '/cron'],
      [{ cron: '* * * * *', intervalMs: 1000 }, '/cron'],
      [{ intervalMs: 1000, catchUp: 'run-all', maxCatchUp: 101 }, '/maxCatchUp'],
      [{ intervalMs: 1000, catchUp: 'sometimes' }, '/catchUp'],
      [{ intervalMs: 1000, overlap: 'queue' }, '/overlap'],
      [{ intervalMs: 1000, startAt: '2999-01-01T00:00:00Z' }, '/startAt'],
      [{ intervalMs: 1000, name: 'bad\u0000name' }, '/name'],
      [{ intervalMs: 1000, name: 'x'.repeat(129) }, '/name'],
      [{ intervalMs: 1000, job: { image: 'evil:latest', command: ['true'] } }, '/job/image'],
      [
        { intervalMs: 1000, job: { ...testJob, inputs: [{ file: randomUUID(), path: '/tmp/a' }] } },
        '/job/inputs',
      ],
      [{ intervalMs: 1000, every: 'day' }, '/every'],
    ];
    for (const [body, pointer] of cases) {
      expect(await refusedAt(await post(body)), JSON.stringify(body)).toContain(pointer);
    }
  });

  it('refuses a job naming a secret the tenant does not have', async () => {
    const response = await post({ intervalMs: 60_000, job: { ...testJob, secrets: { TOKEN: 'absent' } } });
    expect(await refusedAt(response)).toEqual(['/job/secrets/TOKEN']);
  });
});

describe('creating with an Idempotency-Key', () => {
  const keyed = (key: string, body: object, token = alice) =>
    stack.app.request('/v1/schedules', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'idempotency-key': key,
      },
      body: JSON.stringify(body),
    });
  const body = { job: testJob, intervalMs: 60_000, name: 'keyed' };

  it('answers a retried create with the schedule it made, and a 409 for another body under the key', async () => {
    const key = `nightly-${randomUUID()}`;
    const first = await keyed(key, body);
    expect(first.status).toBe(201);
    const made = (await first.json()) as ScheduleView;
    const again = await keyed(key, body);
    expect(again.status).toBe(200);
    expect(again.headers.get('location')).toBe(`/v1/schedules/${made.id}`);
    expect(((await again.json()) as ScheduleView).id).toBe(made.id);
    expect((await scheduleEvents(stack.store, made.id)).map((event) => event.type)).toEqual([
      'ScheduleCreated',
    ]);
    const other = await keyed(key, { ...body, name: 'another' });
    expect(other.status).toBe(409);
    expect(((await other.json()) as { code: string }).code).toBe('idempotency-key-reused');
    const malformed = await keyed('has a space', body);
    expect(malformed.status).toBe(400);
  });

  it("makes one schedule of concurrent creates under one key; a key is the tenant's own, and apart from jobs' keys", async () => {
    const key = `race-${randomUUID()}`;
    const answers = await Promise.all(Array.from({ length: 5 }, () => keyed(key, body)));
    const statuses = answers.map((answer) => answer.status).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 201]);
    const ids = new Set(await Promise.all(answers.map(async (a) => ((await a.json()) as ScheduleView).id)));
    expect(ids.size).toBe(1);

    // A tenant of its own, so no other test's list meets its schedule.
    const other = await stack.token('dave', { tenant: `tenant-${randomUUID()}` });
    const theirs = await keyed(key, body, other);
    expect(theirs.status).toBe(201);
    expect(ids.has(((await theirs.json()) as ScheduleView).id)).toBe(false);

    const job = await stack.app.request('/v1/jobs', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${alice}`,
        'content-type': 'application/json',
        'idempotency-key': key,
      },
      body: JSON.stringify(testJob),
    });
    expect(job.status).toBe(202);
  });
});

describe('changing, pausing, deleting', () => {
  it('changes the timing and policies; a cron replaces the interval; a time zone alone re-reads the cron', async () => {
    const { id } = await createSchedule(stack, alice, { intervalMs: 60_000 });
    const changed = await call(stack, alice, 'PATCH', `/v1/schedules/${id}`, {
      cron: '0 9 * * 1',
      overlap: 'cancel-previous',
      name: 'weekly',
    });
    expect(changed.status).toBe(200);
    expect(await changed.json()).toMatchObject({
      cron: '0 9 * * 1',
      timeZone: 'UTC',
      intervalMs: null,
      overlap: 'cancel-previous',
      name: 'weekly',
    });
    const zoned = await call(stack, alice, 'PATCH', `/v1/schedules/${id}`, { timeZone: 'America/New_York' });
    expect(await zoned.json()).toMatchObject({ cron: '0 9 * * 1', timeZone: 'America/New_York' });
    expect((await scheduleEvents(stack.store, id, 'ScheduleChanged')).length).toBe(2);
  });

  it('refuses a time zone for an interval, an empty change, and both timings at once', async () => {
    const { id } = await createSchedule(stack, alice, { intervalMs: 60_000 });
    const patch = (body: object) => call(stack, alice, 'PATCH', `/v1/schedules/${id}`, body);
    expect(await refusedAt(await patch({ timeZone: 'UTC' }))).toEqual(['/timeZone']);
    expect(await refusedAt(await patch({}))).toEqual(['/']);
    expect(await refusedAt(await patch({ cron: '* * * * *', intervalMs: 1000 }))).toEqual(['/intervalMs']);
    expect(await refusedAt(await patch({ paused: 'yes' }))).toEqual(['/paused']);
  });

  it('pauses and resumes idempotently, each change once in the log', async () => {
    const { id } = await createSchedule(stack, alice, { intervalMs: 60_000 });
    for (const paused of [true, true, false, false]) {
      const response = await call(stack, alice, 'PATCH', `/v1/schedules/${id}`, { paused });
      expect(await response.json()).toMatchObject({ status: paused ? 'paused' : 'active' });
    }
    const types = (await scheduleEvents(stack.store, id)).map((event) => event.type);
    expect(types).toEqual(['ScheduleCreated', 'SchedulePaused', 'ScheduleResumed']);
  });

  it('deletes: 204, then the schedule is gone from reads, the list and further changes', async () => {
    const { id } = await createSchedule(stack, alice, { intervalMs: 60_000, name: 'doomed' });
    expect((await call(stack, alice, 'DELETE', `/v1/schedules/${id}`)).status).toBe(204);
    await settled(stack, id);
    expect((await call(stack, alice, 'GET', `/v1/schedules/${id}`)).status).toBe(404);
    expect((await call(stack, alice, 'DELETE', `/v1/schedules/${id}`)).status).toBe(404);
    expect((await call(stack, alice, 'PATCH', `/v1/schedules/${id}`, { paused: true })).status).toBe(404);
    const list = (await (await call(stack, alice, 'GET', '/v1/schedules?limit=100')).json()) as {
      schedules: ScheduleView[];
    };
    expect(list.schedules.map((schedule) => schedule.id)).not.toContain(id);
  });
});

describe('a busy schedule', () => {
  it('pauses, resumes, changes and deletes while other writers move its stream, never answering 409', async () => {
    const { id } = await createSchedule(stack, alice, { intervalMs: 60_000 });
    // Writers appending to the schedule's stream as fast as they can, as the firing loop does at
    // every slot of a busy schedule: each API command is decided on a version already gone.
    let stop = false;
    let churned = 0;
    const churn = async () => {
      while (!stop) {
        const loaded = await loadSchedule(stack.database.db, id);
        if (loaded.state.status === 'initial' || loaded.state.status === 'deleted') return;
        const definition = { ...loaded.state.definition, name: `churn-${churned}` };
        await executeScheduleCommand(
          stack.store,
          id,
          { type: 'ChangeSchedule', definition, now: new Date() },
          { actor: 'test' },
          loaded,
        ).then(
          () => {
            churned += 1;
          },
          (error: unknown) => {
            if (!(error instanceof ConcurrencyError || error instanceof ScheduleDomainError)) throw error;
          },
        );
      }
    };
    const writers = [churn(), churn(), churn()];
    try {
      const statuses: number[] = [];
      for (const paused of [true, false, true, false]) {
        statuses.push((await call(stack, alice, 'PATCH', `/v1/schedules/${id}`, { paused })).status);
        const overlap = paused ? 'skip-if-running' : 'allow';
        statuses.push((await call(stack, alice, 'PATCH', `/v1/schedules/${id}`, { overlap })).status);
      }
      statuses.push((await call(stack, alice, 'DELETE', `/v1/schedules/${id}`)).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 204]);
    } finally {
      stop = true;
      await Promise.all(writers);
    }
    expect(churned).toBeGreaterThan(10);
    const types = (await scheduleEvents(stack.store, id)).map((event) => event.type);
    expect(types.filter((type) => type === 'SchedulePaused')).toHaveLength(2);
    expect(types.filter((type) => type === 'ScheduleResumed')).toHaveLength(2);
    expect(types.at(-1)).toBe('ScheduleDeleted');
  });
});

describe('tenants and scopes', () => {
  it("answers another tenant's schedule exactly as a missing one, and lists only the tenant's own", async () => {
    const bob = await stack.token('bob', { tenant: 'globex' });
    const { id } = await createSchedule(stack, alice, { intervalMs: 60_000, name: 'acme only' });
    const theirs = await createSchedule(stack, bob, { intervalMs: 60_000, name: 'globex only' });
    for (const [method, body] of [['GET'], ['PATCH', { paused: true }], ['DELETE']] as const) {
      const intruding = await call(stack, bob, method, `/v1/schedules/${id}`, body);
      const missing = await call(stack, bob, method, `/v1/schedules/${randomUUID()}`, body);
      expect(intruding.status).toBe(404);
      expect(missing.status).toBe(404);
      const [a, b] = [(await intruding.json()) as object, (await missing.json()) as object];
      expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
      expect(JSON.stringify(a)).not.toMatch(/acme|alice/);
    }
    expect((await scheduleEvents(stack.store, id)).map((event) => event.type)).toEqual(['ScheduleCreated']);
    const listOf = async (token: string) =>
      (
        (await (await call(stack, token, 'GET', '/v1/schedules?limit=100')).json()) as {
          schedules: ScheduleView[];
        }
      ).schedules.map((schedule) => schedule.id);
    expect(await listOf(bob)).toEqual([theirs.id]);
    expect(await listOf(alice)).toContain(id);
    expect(await listOf(alice)).not.toContain(theirs.id);
    const admin = await stack.token('operator', { tenant: 'ops', scopes: ['admin'] });
    expect(await listOf(admin)).toEqual(expect.arrayContaining([id, theirs.id]));
  });

  it('pages the list newest first by `after`', async () => {
    const carol = await stack.token('carol', { tenant: 'initech' });
    const ids: string[] = [];
    for (let index = 0; index < 3; index += 1)
      ids.push((await createSchedule(stack, carol, { intervalMs: 60_000 })).id);
    const page = async (query: string) =>
      (await (await call(stack, carol, 'GET', `/v1/schedules?${query}`)).json()) as {
        schedules: ScheduleView[];
        next: string | null;
      };
    const first = await page('limit=2');
    expect(first.schedules.map((schedule) => schedule.id)).toEqual([ids[2], ids[1]]);
    const second = await page(`limit=2&after=${first.next}`);
    expect(second).toEqual({ schedules: [expect.objectContaining({ id: ids[0] })], next: null });
    expect(await refusedAt(await call(stack, carol, 'GET', '/v1/schedules?limit=1000'))).toEqual(['/limit']);
  });

  it('writes need jobs:submit and reads jobs:read', async () => {
    const { id } = await createSchedule(stack, alice, { intervalMs: 60_000 });
    const routes = [
      {
        method: 'POST',
        path: '/v1/schedules',
        body: { job: testJob, intervalMs: 60_000 },
        needs: 'jobs:submit',
        ok: 201,
      },
      { method: 'GET', path: '/v1/schedules', needs: 'jobs:read', ok: 200 },
      { method: 'GET', path: `/v1/schedules/${id}`, needs: 'jobs:read', ok: 200 },
      {
        method: 'PATCH',
        path: `/v1/schedules/${id}`,
        body: { name: 'renamed' },
        needs: 'jobs:submit',
        ok: 200,
      },
    ] as const;
    for (const route of routes) {
      for (const scope of clientScopes) {
        const token = await stack.token('alice', { tenant: 'acme', scopes: [scope] });
        const response = await call(
          stack,
          token,
          route.method,
          route.path,
          'body' in route ? route.body : undefined,
        );
        expect(response.status, `${route.method} ${route.path} with ${scope}`).toBe(
          scope === route.needs ? route.ok : 403,
        );
      }
    }
    const reader = await stack.token('alice', { tenant: 'acme', scopes: ['jobs:read'] });
    expect((await call(stack, reader, 'DELETE', `/v1/schedules/${id}`)).status).toBe(403);
  });
});
