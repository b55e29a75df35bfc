import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { sql } from 'kysely';
import { pino } from 'pino';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobStreamId } from '../../jobs/job-stream.ts';
import { createApp } from '../../services/api/app.ts';
import { type ServedApp, serveApp } from '../../services/api/serve.ts';
import { launchChromium, serveConsole } from '../support/console-browser.ts';
import { ensureTestImage, testImage } from '../support/test-image.ts';
import { testPolicy } from '../support/test-policy.ts';
import { startTestStack, type TestStack, testTokenVerifier } from '../support/test-stack.ts';

// A job's page beyond its header: the history badge, "as of this event", files and downloads, a
// long timeline a page at a time; and queue health with caps, workers and the chart.
let stack: TestStack;
let served: ServedApp;
let browser: Browser;
let page: Page;
let token: string;
const dialogs: string[] = [];
const requestedUrls: string[] = [];
const operator = 'console-details';

beforeAll(async () => {
  await ensureTestImage();
  stack = await startTestStack('console-details');
  served = await serveConsole(stack);
  browser = await launchChromium();
  page = await browser.newPage({ acceptDownloads: true });
  page.setDefaultTimeout(30_000);
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on('request', (request) => void requestedUrls.push(request.url()));
  token = await stack.token(operator);
  await page.goto(`${served.url}/console/#token=${token}`);
  await page.getByTestId('subject').getByText(operator, { exact: true }).waitFor();
});
afterAll(async () => {
  await browser?.close();
  await served?.close();
  await stack?.stop();
});

const auth = () => ({ authorization: `Bearer ${token}` });

async function submit(body: Record<string, unknown>): Promise<string> {
  const response = await stack.app.request('/v1/jobs', {
    method: 'POST',
    headers: { ...auth(), 'content-type': 'application/json' },
    body: JSON.stringify({ image: testImage, ...body }),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

interface LoggedEvent {
  readonly position: number;
  readonly streamVersion: number;
  readonly type: string;
  readonly data: Record<string, unknown>;
}

async function eventsOf(id: string): Promise<readonly LoggedEvent[]> {
  const response = await stack.app.request(`/v1/jobs/${id}/events`, { headers: auth() });
  return ((await response.json()) as { events: LoggedEvent[] }).events;
}

const jobStatus = (status: string) => page.locator(`[data-testid=job] h1 [data-status=${status}]`);
const history = () => page.getByTestId('history');

describe("a job's page", () => {
  it('shows "history verified", and "history altered" naming the version once a superuser rewrites an event', async () => {
    const id = await submit({ command: ['sh', '-c', 'echo chained'] });
    await page.goto(`${served.url}/console/jobs/${id}`);
    await jobStatus('succeeded').waitFor();
    const events = await eventsOf(id);
    await page
      .locator('[data-testid=history][data-verified=true]', { hasText: `${events.length} events` })
      .waitFor();
    const output = events.find((event) => event.type === 'JobOutput');
    if (!output) throw new Error('the job printed no output event');

    // As the integrity tests do: the immutability trigger off for one superuser UPDATE only.
    await sql`alter table events disable trigger events_immutable`.execute(stack.database.db);
    try {
      await sql`update events set data = jsonb_set(data, '{text}', '"forged"')
                where stream_id = ${jobStreamId(id)} and stream_version = ${output.streamVersion}`.execute(
        stack.database.db,
      );
    } finally {
      await sql`alter table events enable trigger events_immutable`.execute(stack.database.db);
    }

    await page.reload();
    await page.locator('[data-testid=history][data-verified=false]').waitFor();
    expect(await history().textContent()).toBe(`✗ history altered at version ${output.streamVersion}`);
  });

  it('shows where and how the attempt ran: the runtime, the path, its directories', async () => {
    const id = await submit({ command: ['pwd'], inputDirectories: ['/in'], workingDir: '/in' });
    await page.goto(`${served.url}/console/jobs/${id}`);
    await jobStatus('succeeded').waitFor();
    // A job with input directories runs cold: a tmpfs cannot be mounted into a running container.
    expect(await page.getByTestId('sandbox').textContent()).toBe('runc, cold path');
    expect(await page.getByTestId('directories').textContent()).toBe('started in /in; inputs in /in');
  });

  it('opens the state as of any timeline event at /console/jobs/<id>/at/<position>', async () => {
    const id = await submit({ command: ['sh', '-c', 'exit 4'] });
    await page.goto(`${served.url}/console/jobs/${id}`);
    await jobStatus('failed').waitFor();
    const started = page.locator('[data-testid=timeline] tr[data-event-type=JobStarted]');
    await started.waitFor();
    const position = (await eventsOf(id)).find((event) => event.type === 'JobStarted')?.position;
    await started.getByRole('link', { name: 'as of this event' }).click();
    await page.getByTestId('job-at').waitFor();
    expect(page.url()).toBe(`${served.url}/console/jobs/${id}/at/${position}`);
    // Running then, though it has failed since; the event that made the state is named.
    expect(await page.locator('[data-testid=job-at] h1 [data-status]').getAttribute('data-status')).toBe(
      'running',
    );
    expect(await page.getByTestId('at-position').textContent()).toBe(String(position));
    expect(await page.getByTestId('at-version').textContent()).toContain('JobStarted');
    // A pasted deep link opens the same page.
    await page.goto(`${served.url}/console/jobs/${id}/at/${position}`);
    expect(await page.locator('[data-testid=job-at] h1 [data-status]').getAttribute('data-status')).toBe(
      'running',
    );
    await page.getByRole('link', { name: '← the job now' }).click();
    await jobStatus('failed').waitFor();
  });

  it('lists inputs and artifacts with sizes and hashes, and downloads an artifact whose bytes match the log', async () => {
    const upload = await stack.app.request('/v1/files?name=seed.txt', {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'text/plain' },
      body: 'seed-bytes\n',
    });
    expect(upload.status).toBe(201);
    const input = (await upload.json()) as { id: string; sha256: string };
    // A file name is the job's to choose: markup in it must stay text.
    const hostileName = '<img src=x onerror=alert(7)>.txt';
    const id = await submit({
      command: [
        'sh',
        '-c',
        `cat /tmp/seed.txt > '/out/${hostileName}'; echo artifact-tail >> '/out/${hostileName}'`,
      ],
      inputs: [{ file: input.id, path: '/tmp/seed.txt' }],
      outputs: ['/out/*'],
    });
    await page.goto(`${served.url}/console/jobs/${id}`);
    await jobStatus('succeeded').waitFor();
    const inputs = page.getByTestId('inputs');
    expect(await inputs.locator(`tr[data-file-id="${input.id}"]`).textContent()).toContain(input.sha256);
    const artifacts = page.getByTestId('artifacts');
    await artifacts.waitFor();
    expect(await artifacts.getByTestId('artifact-path').textContent()).toBe(`/out/${hostileName}`);
    expect(await page.locator('main img').count()).toBe(0);

    const stored = (await eventsOf(id)).find((event) => event.type === 'ArtifactStored');
    const recordedHash = String(stored?.data.sha256);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      artifacts.getByTestId('download').click(),
    ]);
    const bytes = await readFile((await download.path()) ?? '');
    expect(bytes.toString()).toBe('seed-bytes\nartifact-tail\n');
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(recordedHash);
    expect(await artifacts.getByText('saved, sha256 checked').count()).toBe(1);
    // The browser was handed the bytes, not an address: no URL ever named the token.
    expect(download.url()).toMatch(/^blob:/);
    // Saved under the last path segment with the characters file systems and shells treat specially replaced.
    expect(download.suggestedFilename()).toBe('_img src=x onerror=alert(7)_.txt');
    expect(dialogs).toEqual([]);
  });

  it('pages a timeline of more than a thousand events: the first page renders and "more" loads the next', async () => {
    // Queued an hour ahead, so no worker touches it while its stream is filled.
    const id = await submit({ command: ['true'], delayMs: 3_600_000 });
    for (let batch = 0; batch < 3; batch += 1) {
      await stack.store.append(
        jobStreamId(id),
        null,
        Array.from({ length: 400 }, (_, index) => ({
          type: 'JobOutput',
          schemaVersion: 1,
          data: {
            attempt: 1,
            seq: batch * 400 + index,
            stream: 'stdout',
            text: `line ${batch * 400 + index}\n`,
          },
          metadata: { actor: 'test' },
        })),
      );
    }
    const total = (await stack.store.readStream(jobStreamId(id))).length;
    expect(total).toBe(1201);

    await page.goto(`${served.url}/console/jobs/${id}`);
    const rows = page.locator('[data-testid=timeline] tr.event');
    await page.getByTestId('more-events').waitFor();
    expect(await rows.count()).toBe(200);
    expect(await rows.last().locator('td').first().textContent()).toBe('#200');
    await page.getByTestId('more-events').click();
    await page.locator('[data-testid=timeline] tr.event', { hasText: '#400' }).waitFor();
    expect(await rows.count()).toBe(400);
    // Paged by the events route's cursor: no request asked for the whole history at once.
    const eventRequests = requestedUrls.filter((url) => url.includes(`/v1/jobs/${id}/events`));
    expect(eventRequests.every((url) => /[?&]limit=\d+/.test(url))).toBe(true);
    expect(
      eventRequests
        .map((url) => Number(new URL(url).searchParams.get('limit')))
        .every((limit) => limit <= 200),
    ).toBe(true);
  });
});

describe('queue health', () => {
  let capped: ServedApp;
  beforeAll(async () => {
    // The stack's own app is not told the cap; this one is, as the API role is from TENANT_MAX_RUNNING.
    capped = await serveApp(
      createApp({
        store: stack.store,
        db: stack.database.db,
        policy: testPolicy,
        verifyToken: testTokenVerifier,
        logger: pino({ level: 'silent' }),
        tenantMaxRunning: 8,
      }),
      { port: 0, host: '127.0.0.1' },
    );
  });
  afterAll(async () => {
    await capped?.close();
  });

  it('shows running attempts per tenant against the cap, each worker with what it runs, and the chart of outcomes', async () => {
    const running = await submit({ command: ['sleep', '30'] });
    await submit({ command: ['sh', '-c', 'exit 1'] });
    const admin = await stack.token('health-admin', { scopes: ['admin'] });
    const adminPage = await browser.newPage();
    adminPage.setDefaultTimeout(30_000);
    try {
      await adminPage.goto(`${capped.url}/console/health#token=${admin}`);
      const tenant = adminPage.locator('[data-testid=tenants] tr[data-tenant=default]');
      await tenant.getByTestId('tenant-running').getByText('1 / 8').waitFor();
      expect(await adminPage.getByTestId('tenant-cap').textContent()).toBe('8');
      // The stack's worker holds the running attempt under its lease.
      const holder = adminPage.locator(`[data-testid=workers] [data-held-job="${running}"]`);
      await holder.waitFor();
      expect(await holder.textContent()).toContain('attempt 1');
      // Finished jobs stand in the last minute's bar, coloured by outcome.
      const chart = adminPage.getByTestId('throughput');
      await chart.locator('rect[data-outcome=failed]').first().waitFor();
      expect(await chart.locator('g[data-minute]').count()).toBe(60);
    } finally {
      await adminPage.close();
      await stack.app.request(`/v1/jobs/${running}/cancel`, { method: 'POST', headers: auth() });
    }
  });
});
