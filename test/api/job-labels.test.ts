import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.ts';
import { testImage } from '../support/test-image.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

// No workers: labels are about finding jobs, which the read model answers whatever runs them.
let stack: TestStack;
let acme: Record<string, string>;
let globex: Record<string, string>;

beforeAll(async () => {
  stack = await startTestStack('labels', { withWorkers: false });
  acme = { authorization: `Bearer ${await stack.token('alice', { tenant: 'acme' })}` };
  globex = { authorization: `Bearer ${await stack.token('bob', { tenant: 'globex' })}` };
});
afterAll(() => stack?.stop());

type Listed = { id: string; labels: Record<string, string>; command: string };

async function submit(body: Record<string, unknown>, headers = acme): Promise<Response> {
  return stack.app.request('/v1/jobs', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ image: testImage, command: ['echo', 'hi'], ...body }),
  });
}
async function submitId(body: Record<string, unknown>, headers = acme): Promise<string> {
  const response = await submit(body, headers);
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}
async function list(query: string, headers = acme): Promise<readonly string[]> {
  const response = await stack.app.request(`/v1/jobs?${query}`, { headers });
  expect(response.status).toBe(200);
  return ((await response.json()) as { jobs: Listed[] }).jobs.map((job) => job.id);
}

describe('job labels', () => {
  it('are recorded on JobSubmitted, shown by the job and the list, and filter the list (every label must hold)', async () => {
    const nightlyData = await submitId({
      labels: { team: 'data', schedule: 'nightly' },
      command: ['sh', '-c', 'make report'],
    });
    const adhocData = await submitId({ labels: { team: 'data' } });
    const web = await submitId({ labels: { team: 'web', 'app.kubernetes.io/name': 'shop' } });
    const none = await submitId({});
    // The same label in another tenant is never listed for acme.
    const otherTenant = await submitId({ labels: { team: 'data' } }, globex);

    const events = (await (
      await stack.app.request(`/v1/jobs/${nightlyData}/events`, { headers: acme })
    ).json()) as {
      events: { type: string; data: { spec: { labels?: Record<string, string> } } }[];
    };
    expect(events.events[0]?.type).toBe('JobSubmitted');
    expect(events.events[0]?.data.spec.labels).toEqual({ team: 'data', schedule: 'nightly' });
    const view = (await (await stack.app.request(`/v1/jobs/${web}`, { headers: acme })).json()) as Listed;
    expect(view.labels).toEqual({ team: 'web', 'app.kubernetes.io/name': 'shop' });
    const bare = (await (await stack.app.request(`/v1/jobs/${none}`, { headers: acme })).json()) as Listed;
    expect(bare.labels).toEqual({});

    expect(
      await eventually(
        () => list('limit=10'),
        (ids) => ids.length === 4,
      ),
    ).toHaveLength(4);
    expect(new Set(await list('label=team=data'))).toEqual(new Set([nightlyData, adhocData]));
    expect(await list('label=team=data&label=schedule=nightly')).toEqual([nightlyData]);
    expect(await list('label=team=data&label=schedule=weekly')).toEqual([]);
    expect(await list(`label=${encodeURIComponent('app.kubernetes.io/name=shop')}`)).toEqual([web]);
    // The other tenant's job may be folded a moment after acme's four.
    expect(
      await eventually(
        () => list('label=team=data', globex),
        (ids) => ids.length > 0,
      ),
    ).toEqual([otherTenant]);

    const [listed] = (
      (await (await stack.app.request('/v1/jobs?label=schedule=nightly', { headers: acme })).json()) as {
        jobs: Listed[];
      }
    ).jobs;
    expect(listed).toMatchObject({
      labels: { team: 'data', schedule: 'nightly' },
      command: 'sh -c make report',
    });
  });

  it('free-text search finds words in the command or the labels; % and _ are only themselves', async () => {
    const report = await submitId({
      command: ['echo', 'quarterly_report 100%'],
      labels: { owner: 'finance-team' },
    });
    const other = await submitId({ command: ['echo', 'quarterlyXreport'] });
    expect(
      await eventually(
        () => list('q=quarterly'),
        (ids) => ids.length === 2,
      ),
    ).toHaveLength(2);
    expect(new Set(await list('q=QUARTERLY'))).toEqual(new Set([report, other]));
    expect(await list('q=quarterly_report')).toEqual([report]);
    expect(await list(`q=${encodeURIComponent('100%')}`)).toEqual([report]);
    expect(await list('q=finance')).toEqual([report]);
    expect(await list('q=nothing-like-this')).toEqual([]);
  });

  it('the counts and a bulk dry run match exactly the jobs the list shows for a label and a search', async () => {
    const batch = `batch-${Date.now()}`;
    const matching = [
      await submitId({ labels: { batch }, command: ['echo', 'needle-in-hay'] }),
      await submitId({ labels: { batch }, command: ['echo', 'needle-again'] }),
    ];
    // The same label without the words, the words without the label, the label in another tenant.
    await submitId({ labels: { batch }, command: ['echo', 'hay'] });
    await submitId({ command: ['echo', 'needle-alone'] });
    await submitId({ labels: { batch }, command: ['echo', 'needle-elsewhere'] }, globex);
    const filter = `label=batch=${batch}&q=needle`;
    expect(
      new Set(
        await eventually(
          () => list(filter),
          (ids) => ids.length === 2,
        ),
      ),
    ).toEqual(new Set(matching));
    const counts = (await (
      await stack.app.request(`/v1/jobs/counts?${filter}`, { headers: acme })
    ).json()) as {
      counts: Record<string, number>;
      total: number;
    };
    expect(counts).toMatchObject({ total: 2, counts: { queued: 2, running: 0 } });
    // The label alone: the third job too, once the read model has it (it trails the log a moment).
    const labelled = await eventually(
      async () =>
        (
          (await (
            await stack.app.request(`/v1/jobs/counts?label=batch=${batch}`, { headers: acme })
          ).json()) as {
            total: number;
          }
        ).total,
      (total) => total >= 3,
    );
    expect(labelled).toBe(3);
    const dryRun = await stack.app.request('/v1/jobs/bulk-cancel', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...acme },
      body: JSON.stringify({ filter: { label: [`batch=${batch}`], q: 'needle' }, dryRun: true }),
    });
    expect(dryRun.status).toBe(200);
    expect(((await dryRun.json()) as { matched: number }).matched).toBe(2);
    // Refused the same way as in the list.
    const refused = await stack.app.request('/v1/jobs/counts?label=batch', { headers: acme });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { code: string }).code).toBe('validation-failed');
  });

  it('refuses labels and filters it could not store or match, with a pointer, and stores nothing', async () => {
    const refusals: [Record<string, unknown>, string][] = [
      [{ labels: { '': 'x' } }, '/labels'],
      [{ labels: { 'has space': 'x' } }, '/labels'],
      [{ labels: { team: 'a\u0000b' } }, '/labels'],
      [{ labels: { team: '\ud800' } }, '/labels'],
      [{ labels: { team: 'x'.repeat(257) } }, '/labels'],
      [{ labels: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) }, '/labels'],
      [{ labels: { team: 7 } }, '/labels'],
    ];
    for (const [body, pointer] of refusals) {
      const response = await submit(body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      const problem = (await response.json()) as { code: string; errors: { pointer: string }[] };
      expect(problem.code).toBe('validation-failed');
      expect(problem.errors.map((error) => error.pointer.slice(0, pointer.length))).toContain(pointer);
    }
    for (const query of [
      'label=team',
      'label==data',
      `label=${encodeURIComponent('bad key=x')}`,
      `q=${'x'.repeat(201)}`,
    ]) {
      const response = await stack.app.request(`/v1/jobs?${query}`, { headers: acme });
      expect(response.status, query).toBe(400);
      expect(((await response.json()) as { code: string }).code).toBe('validation-failed');
    }
  });
});
