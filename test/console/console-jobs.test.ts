import { randomUUID } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServedApp } from '../../services/api/serve.ts';
import { launchChromium, serveConsole } from '../support/console-browser.ts';
import { eventually } from '../support/eventually.ts';
import { ensureTestImage, testImage } from '../support/test-image.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

// One browser and one signed-in tab for the whole file; each test waits on what the page shows.
let stack: TestStack;
let served: ServedApp;
let browser: Browser;
let page: Page;
let token: string;
const dialogs: string[] = [];
const requestedUrls: string[] = [];
const operator = 'console-operator';

beforeAll(async () => {
  await ensureTestImage();
  stack = await startTestStack('console-jobs');
  served = await serveConsole(stack);
  browser = await launchChromium();
  page = await browser.newPage();
  page.setDefaultTimeout(30_000);
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on('request', (request) => void requestedUrls.push(request.url()));
  token = await stack.token(operator);
});
afterAll(async () => {
  await browser?.close();
  await served?.close();
  await stack?.stop();
});

async function submit(command: readonly string[], extra: Record<string, unknown> = {}): Promise<string> {
  const response = await stack.app.request('/v1/jobs', {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ image: testImage, command, ...extra }),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

async function eventsOf(id: string) {
  const response = await stack.app.request(`/v1/jobs/${id}/events`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return (
    (await response.json()) as {
      events: { type: string; data: Record<string, unknown>; metadata: Record<string, unknown> }[];
    }
  ).events;
}

const jobStatus = (status: string) => page.locator(`[data-testid=job] h1 [data-status=${status}]`);

describe('the operators console in a browser', () => {
  it('signs in from a #token= link, drops the token from the address bar, and shows who, tenant and scopes', async () => {
    await page.goto(`${served.url}/console/#token=${token}`);
    await page.getByTestId('subject').getByText(operator, { exact: true }).waitFor();
    // The console shows who signed in before it replaces the address (seen in CI), so the address
    // is waited for; it times out unless the token is dropped and the jobs page is the one shown.
    await page.waitForURL(`${served.url}/console/jobs`, { timeout: 10_000 });
    expect(await page.getByTestId('tenant').textContent()).toBe('default');
    const scopes = (await page.getByTestId('scopes').textContent())?.split(' ');
    expect(scopes).toEqual(expect.arrayContaining(['jobs:read', 'jobs:cancel', 'events:read']));
    // Not an admin: the admin pages are not offered.
    expect(await page.getByRole('link', { name: 'Event log' }).count()).toBe(0);
    expect(await page.evaluate<number>('window.history.length')).toBe(2);
  });

  it('shows a job submitted through the API and turns it succeeded live, without a reload', async () => {
    await page.evaluate('window.sameDocument = true');
    const id = await submit(['sh', '-c', 'echo hello-console']);
    const row = page.locator(`tr[data-job-id="${id}"]`);
    await row.waitFor();
    await row.locator('[data-status=succeeded]').waitFor();
    expect(await page.evaluate<boolean>("'sameDocument' in window")).toBe(true);
    // The counts poll on their own tick: they catch up within a second of the row, not with it.
    await page.locator('[data-count=succeeded]', { hasText: /^1$/ }).waitFor();

    // Its page: the header, the stored output, the timeline and an event's raw JSON.
    await row.getByRole('link').click();
    await jobStatus('succeeded').waitFor();
    expect(page.url()).toBe(`${served.url}/console/jobs/${id}`);
    expect(await page.getByTestId('exit-code').textContent()).toBe('0');
    expect(await page.getByTestId('stored-output').getByTestId('stdout').textContent()).toBe(
      'hello-console\n',
    );
    const timeline = page.getByTestId('timeline');
    await timeline.locator('[data-event-type=JobSucceeded]').waitFor();
    expect(await timeline.locator('tr.event .type').allTextContents()).toEqual(
      expect.arrayContaining(['JobSubmitted', 'JobStarted', 'JobSucceeded']),
    );
    await timeline.locator('[data-event-type=JobSubmitted]').click();
    const raw = JSON.parse((await page.getByTestId('raw-event').textContent()) ?? '{}') as {
      type: string;
      metadata: { actor: string };
      data: { spec: { command: string[] } };
    };
    expect(raw.type).toBe('JobSubmitted');
    expect(raw.metadata.actor).toBe(operator);
    expect(raw.data.spec.command).toEqual(['sh', '-c', 'echo hello-console']);
  });

  it('shows the live output of a job printing a line a second while it runs, then the stored output', async () => {
    const id = await submit(['sh', '-c', 'for i in 1 2 3 4 5 6; do echo line-$i; sleep 1; done']);
    await page.goto(`${served.url}/console/jobs/${id}`);
    const live = page.getByTestId('live-output').getByTestId('stdout');
    await live.getByText('line-2', { exact: false }).waitFor();
    // Seen while running: the last line is seconds away.
    expect(await live.textContent()).not.toContain('line-6');
    expect(await jobStatus('running').count()).toBe(1);
    await jobStatus('succeeded').waitFor();
    expect(await page.getByTestId('stored-output').getByTestId('stdout').textContent()).toBe(
      'line-1\nline-2\nline-3\nline-4\nline-5\nline-6\n',
    );
  });

  it('cancels a running job with its button, recorded with the operator as actor', async () => {
    const id = await submit(['sleep', '60']);
    await page.goto(`${served.url}/console/jobs/${id}`);
    await jobStatus('running').waitFor();
    await page.getByTestId('cancel').click();
    await jobStatus('cancelled').waitFor();
    expect(await page.getByTestId('cancel').count()).toBe(0);
    const cancelled = (await eventsOf(id)).find((event) => event.type === 'JobCancelled');
    expect(cancelled?.metadata.actor).toBe(operator);
    expect(cancelled?.data.wasRunning).toBe(true);
  });

  it('retries a failed job with its button: a second attempt, grouped apart in the timeline', async () => {
    const id = await submit(['sh', '-c', 'exit 3']);
    await page.goto(`${served.url}/console/jobs/${id}`);
    await jobStatus('failed').waitFor();
    expect(await page.getByTestId('failure').textContent()).toBe('The command exited with code 3.');
    await page.getByTestId('retry').click();
    await page.getByTestId('attempt').getByText('2 of', { exact: false }).waitFor();
    await jobStatus('failed').waitFor();
    await page.locator('[data-testid=timeline] [data-attempt="2"] [data-event-type=JobFailed]').waitFor();
    const retried = await eventually(
      () => eventsOf(id),
      (events) => events.some((event) => event.type === 'JobRetryScheduled'),
    );
    expect(retried.find((event) => event.type === 'JobRetryScheduled')?.data.reason).toBe('operator');
  });

  it('shows markup a job printed as text, and runs none of it', async () => {
    const hostile = '<img src=x onerror=alert(1)><script>alert(2)</script>';
    const id = await submit(['printf', '%s', hostile]);
    await page.goto(`${served.url}/console/jobs/${id}`);
    await jobStatus('succeeded').waitFor();
    const stdout = page.getByTestId('stored-output').getByTestId('stdout');
    expect(await stdout.textContent()).toBe(hostile);
    expect(await page.locator('main img, main script').count()).toBe(0);
    await page.locator('[data-testid=timeline] [data-event-type=JobOutput]').first().click();
    expect(await page.getByTestId('raw-event').textContent()).toContain(JSON.stringify(hostile).slice(1, -1));
    // The list shows it too (no field of the list carries output, but the page must stay quiet).
    await page.goto(`${served.url}/console/jobs`);
    await page.locator(`tr[data-job-id="${id}"]`).waitFor();
    expect(dialogs).toEqual([]);
  });

  it('bulk-cancels the jobs a label filter matches after confirming their count, each recorded under one operation', async () => {
    const batch = randomUUID().slice(0, 8);
    const matching = [
      await submit(['sleep', '60'], { labels: { batch } }),
      await submit(['sleep', '60'], { labels: { batch } }),
      await submit(['sleep', '60'], { labels: { batch } }),
    ];
    const bystander = await submit(['sleep', '60'], { labels: { batch: 'other' } });
    try {
      await page.goto(`${served.url}/console/jobs?label=batch%3D${batch}`);
      for (const id of matching) await page.locator(`tr[data-job-id="${id}"]`).waitFor();
      await page.getByTestId('bulk-cancel').click();
      expect(await page.getByTestId('bulk-count').textContent()).toBe('3');
      await page.getByTestId('bulk-run').click();
      const results = page.getByTestId('bulk-result');
      await results.waitFor();
      expect(
        (
          await results
            .locator('tr[data-outcome=changed]')
            .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-job-id')))
        ).sort(),
      ).toEqual([...matching].sort());
      const operationId = await page.getByTestId('operation-id').textContent();
      for (const id of matching) {
        const cancelled = (await eventsOf(id)).find((event) => event.type === 'JobCancelled');
        expect(cancelled?.metadata).toMatchObject({ actor: operator, operationId });
      }
      expect((await eventsOf(bystander)).some((event) => event.type === 'JobCancelled')).toBe(false);
    } finally {
      await stack.app.request(`/v1/jobs/${bystander}/cancel`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
    }
  });

  it('never put the token in a URL', () => {
    expect(requestedUrls.length).toBeGreaterThan(10);
    expect(requestedUrls.filter((url) => url.includes(token))).toEqual([]);
  });
});
