import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.ts';
import { testImage } from '../support/test-image.ts';
import { type CliStack, startCliStack } from './cli-harness.ts';

// omni runs a dozen times per test and a schedule's job runs in Docker: minutes on a loaded machine.
let cli: CliStack;
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

beforeAll(async () => {
  cli = await startCliStack('cli-schedules');
});
afterAll(async () => {
  await cli?.stop();
});

/** Runs omni and expects exit 0 and no diagnostics but hints; returns stdout. */
async function ok(...args: string[]): Promise<string> {
  const run = await cli.omni(args);
  expect(run.code, `omni ${args.join(' ')}: ${run.stderr}`).toBe(0);
  return run.stdout;
}

/** Runs omni expecting it to fail with `code`: stdout empty, one line on stderr. */
async function fails(code: number, ...args: string[]): Promise<string> {
  const run = await cli.omni(args);
  expect(run.code, `omni ${args.join(' ')}: ${run.stderr}`).toBe(code);
  expect(run.stdout).toBe('');
  expect(run.stderr.trim().split('\n')).toHaveLength(1);
  return run.stderr;
}

async function apiSchedule(id: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${cli.server.url}/v1/schedules/${id}`, {
    headers: { authorization: `Bearer ${cli.env.OMNI_TOKEN}` },
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

interface Schedule {
  readonly id: string;
  readonly status: string;
  readonly name: string | null;
  readonly cron: string | null;
  readonly timeZone: string | null;
  readonly intervalMs: number | null;
  readonly catchUp: string;
  readonly maxCatchUp: number;
  readonly overlap: string;
  readonly job: { image: string; command: string[]; limits: { memoryBytes: number }; labels: object };
  readonly lastFired: { slot: string; jobId: string } | null;
}

describe('omni schedules', { timeout: 300_000 }, () => {
  it('create takes the timing, the policies and the job after --, with submit flags', async () => {
    const id = (
      await ok(
        'schedules',
        'create',
        '--name',
        'nightly report',
        '--cron',
        '30 2 * * *',
        '--time-zone',
        'Europe/Berlin',
        '--catch-up',
        'run-all',
        '--max-catch-up',
        '5',
        '--overlap',
        'allow',
        '--memory',
        '64m',
        '--label',
        'team=data',
        '--',
        testImage,
        'sh',
        '-c',
        'echo --not-an-option',
      )
    ).trim();
    expect(id).toMatch(uuid);
    const { status, body } = await apiSchedule(id);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      name: 'nightly report',
      status: 'active',
      cron: '30 2 * * *',
      timeZone: 'Europe/Berlin',
      intervalMs: null,
      catchUp: 'run-all',
      maxCatchUp: 5,
      overlap: 'allow',
      job: {
        image: testImage,
        command: ['sh', '-c', 'echo --not-an-option'],
        limits: { memoryBytes: 64 * 1024 ** 2 },
        labels: { team: 'data' },
      },
    });

    const schedule = JSON.parse(
      await ok('schedules', 'create', '--json', '--interval', '5m', '--', testImage, 'true'),
    ) as Schedule;
    expect(schedule).toMatchObject({ status: 'active', intervalMs: 300_000, cron: null });

    const described = await ok('schedules', 'get', id);
    expect(described).toMatch(/^id: +[0-9a-f-]{36}\n/);
    expect(described).toContain('30 2 * * * (Europe/Berlin)');
    expect(described).toContain(`job:        ${testImage} sh -c echo --not-an-option\n`);
    expect(JSON.parse(await ok('schedules', 'get', '--json', id))).toMatchObject({ id, status: 'active' });

    const listed = await ok('schedules', 'list');
    expect(listed.split('\n')[0]).toMatch(/^ID +STATUS +NEXT SLOT +LAST JOB +TIMING +NAME/);
    expect(listed).toMatch(
      new RegExp(`${id} +active +\\S+ +- +30 2 \\* \\* \\* \\(Europe/Berlin\\) +nightly report`),
    );
    expect(listed).toMatch(new RegExp(`${schedule.id} +active .* every 5m`));
    const page = JSON.parse(await ok('schedules', 'list', '--json', '--limit', '1')) as {
      schedules: Schedule[];
      next: string | null;
    };
    expect(page.schedules.map((listedSchedule) => listedSchedule.id)).toEqual([schedule.id]);
    expect(page.next).toBe(schedule.id);
    const second = JSON.parse(
      await ok('schedules', 'list', '--json', '--limit', '1', '--after', page.next ?? ''),
    ) as { schedules: Schedule[] };
    expect(second.schedules.map((listedSchedule) => listedSchedule.id)).toEqual([id]);
  });

  it('refuses what is not a schedule: usage errors exit 2, an unknown id 3, each one line', async () => {
    const both = await fails(
      2,
      'schedules',
      'create',
      '--cron',
      '* * * * *',
      '--interval',
      '1m',
      '--',
      testImage,
      'true',
    );
    expect(both).toContain('give --cron or --interval, exactly one');
    expect(await fails(2, 'schedules', 'create', '--interval', '1m', '--', testImage)).toContain(
      'no command',
    );
    // The API's 400s: a cron that never parses, a policy it does not know, an image off the allowlist.
    expect(await fails(2, 'schedules', 'create', '--cron', '61 * * * *', '--', testImage, 'true')).toContain(
      'cron',
    );
    expect(
      await fails(
        2,
        'schedules',
        'create',
        '--interval',
        '1m',
        '--overlap',
        'sometimes',
        '--',
        testImage,
        'true',
      ),
    ).toContain('overlap');
    expect(
      await fails(2, 'schedules', 'create', '--interval', '1m', '--', 'not-allowed:latest', 'true'),
    ).toContain('allowlist');
    await fails(2, 'schedules', 'create', '--interval', '500ms', '--', testImage, 'true');
    await fails(3, 'schedules', 'get', '00000000-0000-4000-8000-000000000000');
    await fails(3, 'schedules', 'pause', '00000000-0000-4000-8000-000000000000');
    await fails(2, 'schedules', 'list', '--limit', '1000');
  });

  it('create with --idempotency-key run twice prints the one schedule it made; another body under it is refused (3)', async () => {
    const key = `nightly-${Date.now()}`;
    const create = (...command: string[]) =>
      cli.omni([
        'schedules',
        'create',
        '--idempotency-key',
        key,
        '--cron',
        '0 3 * * *',
        '--',
        testImage,
        ...command,
      ]);
    const first = await create('echo', 'report');
    expect(first.code, first.stderr).toBe(0);
    const id = first.stdout.trim();
    expect(id).toMatch(uuid);
    const again = await create('echo', 'report');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(`${id}\n`);
    const page = (await (
      await fetch(`${cli.server.url}/v1/schedules?limit=100`, {
        headers: { authorization: `Bearer ${cli.env.OMNI_TOKEN}` },
      })
    ).json()) as { schedules: { id: string; job: { command: string[] } }[] };
    // The list is a read model; whatever it holds of the report schedule is the one made.
    expect(
      page.schedules.filter(
        (schedule) => schedule.job.command.join(' ') === 'echo report' && schedule.id !== id,
      ),
    ).toEqual([]);
    expect((await apiSchedule(id)).status).toBe(200);
    const other = await fails(
      3,
      'schedules',
      'create',
      '--idempotency-key',
      key,
      '--cron',
      '0 4 * * *',
      '--',
      testImage,
      'echo',
      'report',
    );
    expect(other).toMatch(/idempotency/i);
    expect(await ok('schedules', 'delete', id)).toBe(`${id}\n`);
  });

  it('a schedule fires jobs that name it; pause, resume and delete act on the API', async () => {
    const id = (await ok('schedules', 'create', '--interval', '1s', '--', testImage, 'true')).trim();
    // Under load the first slot's job may take a while to be submitted: poll the schedule, generously.
    let fired: Schedule['lastFired'] = null;
    for (const deadline = Date.now() + 120_000; !fired && Date.now() < deadline; ) {
      fired = (JSON.parse(await ok('schedules', 'get', '--json', id)) as Schedule).lastFired;
      if (!fired) await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(fired, 'the schedule fired within two minutes').not.toBeNull();
    const job = JSON.parse(await ok('jobs', 'get', '--json', fired?.jobId ?? '')) as {
      schedule: { id: string; slot: string };
    };
    expect(job.schedule).toEqual({ id, slot: fired?.slot });

    expect(await ok('schedules', 'pause', id)).toBe(`${id} paused\n`);
    expect((await apiSchedule(id)).body).toMatchObject({ status: 'paused', nextSlotAt: null });
    // Paused, it fires no more: the list's last job is the one get names.
    const last = (JSON.parse(await ok('schedules', 'get', '--json', id)) as Schedule).lastFired;
    expect(await ok('schedules', 'list')).toMatch(new RegExp(`${id} +paused +- +${last?.jobId} +every 1s`));
    const resumed = JSON.parse(await ok('schedules', 'resume', '--json', id)) as Schedule;
    expect(resumed).toMatchObject({ id, status: 'active' });
    expect((await apiSchedule(id)).body).toMatchObject({ status: 'active' });

    expect(await ok('schedules', 'delete', id)).toBe(`${id}\n`);
    expect((await apiSchedule(id)).status).toBe(404);
    await fails(3, 'schedules', 'delete', id);
  });
});

describe('omni replay schedules', { timeout: 300_000 }, () => {
  it('rebuilds the schedules read model from the log', async () => {
    const id = (await ok('schedules', 'create', '--cron', '0 4 * * *', '--', testImage, 'true')).trim();
    // Once the read model has folded the creation (the API answers before it does): spoiled
    // before, the fold would put the row right itself and the replay would prove nothing.
    await eventually(
      async () => (await sql`select 1 from schedules where id = ${id}`.execute(cli.stack.database.db)).rows,
      (rows) => rows.length === 1,
    );
    // The read model, spoiled behind the log's back: only a rebuild from the events puts it right.
    const spoiled =
      await sql`update schedules set status = 'paused', state = jsonb_set(state, '{status}', '"paused"')
      where id = ${id}`.execute(cli.stack.database.db);
    expect(spoiled.numAffectedRows).toBe(1n);
    expect((await apiSchedule(id)).body).toMatchObject({ status: 'paused' });
    const result = JSON.parse(await ok('replay', 'schedules', '--json')) as { ok: boolean; events: number };
    expect(result.ok).toBe(true);
    expect(result.events).toBeGreaterThan(0);
    expect((await apiSchedule(id)).body).toMatchObject({ status: 'active' });
    expect(await fails(2, 'replay', 'bogus')).toContain('known: jobs, schedules');
  });
});

describe('omni webhooks', { timeout: 180_000 }, () => {
  it('create prints the id and the secret once; list never shows it; delete removes it', async () => {
    const created = await ok('webhooks', 'create', 'https://hooks.example.com/omni', '--events', 'JobFailed');
    const match = /^id: +([0-9a-f-]{36})\nsecret: +(whsec_\S+)\n$/.exec(created);
    expect(match, created).not.toBeNull();
    const [, id, secret] = match ?? [];
    const asJson = JSON.parse(await ok('webhooks', 'create', '--json', 'https://hooks.example.com/all')) as {
      id: string;
      events: string[];
      secret: string;
    };
    expect(asJson).toMatchObject({ id: expect.stringMatching(uuid), events: ['terminal'] });
    expect(asJson.secret).toMatch(/^whsec_/);

    const listed = await ok('webhooks', 'list');
    expect(listed).toMatch(new RegExp(`${id} +JobFailed +\\S+ +https://hooks.example.com/omni`));
    expect(listed).not.toContain(secret);
    expect(listed).not.toContain(asJson.secret);
    const page = JSON.parse(await ok('webhooks', 'list', '--json')) as { webhooks: { id: string }[] };
    expect(page.webhooks.map((webhook) => webhook.id).sort()).toEqual([id, asJson.id].sort());
    expect(JSON.stringify(page)).not.toContain('whsec_');

    expect(await ok('webhooks', 'delete', id ?? '')).toBe(`${id}\n`);
    expect(JSON.parse(await ok('webhooks', 'delete', '--json', asJson.id))).toEqual({
      id: asJson.id,
      deleted: true,
    });
    expect(JSON.parse(await ok('webhooks', 'list', '--json'))).toEqual({ webhooks: [] });
    await fails(3, 'webhooks', 'delete', asJson.id);
  });

  it('bare, it is still the webhooks role compose runs: it reads the configuration a role needs', async () => {
    // A client command never reads DATABASE_URL; the role refuses an invalid one before it starts.
    const bare = await cli.omni(['webhooks'], { env: { DATABASE_URL: 'nonsense' } });
    expect(bare).toMatchObject({ code: 2, stdout: '' });
    expect(bare.stderr).toMatch(/^omni: invalid configuration: DATABASE_URL: .*\n$/);
    expect(await fails(2, 'webhooks', 'frobnicate')).toContain('too many arguments');
  });

  it('refuses a private target and an unknown event type (exit 2, one line)', async () => {
    expect(await fails(2, 'webhooks', 'create', 'http://127.0.0.1:9/hook')).toContain('private');
    await fails(2, 'webhooks', 'create', 'https://169.254.169.254/latest');
    await fails(2, 'webhooks', 'create', 'https://hooks.example.com/x', '--events', 'JobStarted');
  });
});
