import { randomUUID } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobStreamId } from '../../jobs/job-stream.ts';
import { webhookDeliveryEventSchemas } from '../../schemas/webhook-events.schema.ts';
import type { ServedApp } from '../../services/api/serve.ts';
import { launchChromium, serveConsole } from '../support/console-browser.ts';
import { ensureTestImage, testImage } from '../support/test-image.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

// The Schedules page and a scheduled job's page, driven in Chromium against the whole stack.
let stack: TestStack;
let served: ServedApp;
let browser: Browser;
const tenant = 'console-schedules';

beforeAll(async () => {
  await ensureTestImage();
  stack = await startTestStack('console-schedules');
  served = await serveConsole(stack);
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await served?.close();
  await stack?.stop();
});

async function api(path: string, init: { method?: string; body?: unknown } = {}) {
  const owner = await stack.token('owner', { tenant, scopes: ['jobs:read', 'jobs:submit'] });
  const response = await stack.app.request(path, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${owner}`, 'content-type': 'application/json' },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** A page signed in with a token of `scopes` (the token arrives in the fragment, as a link gives it). */
async function signedIn(scopes: readonly string[], path: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  // Generous: the machine is loaded and the schedule's job runs in Docker.
  page.setDefaultTimeout(90_000);
  const token = await stack.token('viewer', { tenant, scopes });
  await page.goto(`${served.url}/console/#token=${token}`);
  await page.getByTestId('subject').waitFor();
  await page.getByRole('link', { name: 'Schedules' }).click();
  await page.waitForURL(`${served.url}/console/schedules`);
  if (path !== '/schedules') await page.goto(`${served.url}/console${path}`);
  return page;
}

describe('the Schedules page', { timeout: 240_000 }, () => {
  let scheduleId: string;
  let firedJobId: string;

  it('lists a schedule made through the API, links the job it fired, and pauses it', async () => {
    const created = await api('/v1/schedules', {
      method: 'POST',
      body: { name: 'console tick', intervalMs: 1000, job: { image: testImage, command: ['true'] } },
    });
    expect(created.status).toBe(201);
    scheduleId = String(created.body.id);
    const page = await signedIn(['jobs:read', 'jobs:submit', 'events:read'], '/schedules');
    const row = page.locator(`tr[data-schedule-id="${scheduleId}"]`);
    await row.getByText('console tick').waitFor();
    expect(await row.getByTestId('schedule-status').textContent()).toBe('active');
    expect(await row.locator('td.mono').first().textContent()).toBe('every 1 s');
    // The first slot's job, linked once the schedule fired it.
    const jobLink = row.locator('a[href^="/console/jobs/"]');
    await jobLink.waitFor();

    await row.getByTestId('pause').click();
    await row.getByTestId('schedule-status').getByText('paused', { exact: true }).waitFor();
    await row.getByTestId('resume').waitFor();
    expect(await row.getByTestId('next-slot').textContent()).toBe('—');
    const after = await api(`/v1/schedules/${scheduleId}`);
    expect(after.body).toMatchObject({ status: 'paused', nextSlotAt: null });

    // Paused, it fires no more: the link names the job the API says it fired last.
    const lastFired = after.body.lastFired as { jobId: string; slot: string };
    firedJobId = lastFired.jobId;
    await page.locator(`a[href="/console/jobs/${firedJobId}"]`).waitFor();
    await page.locator(`a[href="/console/jobs/${firedJobId}"]`).click();
    await page.waitForURL(`${served.url}/console/jobs/${firedJobId}`);
    const origin = page.getByTestId('job-schedule');
    await origin.waitFor();
    expect(await origin.textContent()).toContain(`Submitted by schedule ${scheduleId.slice(0, 8)}`);
    expect(await origin.textContent()).toContain(new Date(lastFired.slot).getUTCFullYear().toString());

    // Resume from the console again: the API sees it active.
    await page.goto(`${served.url}/console/schedules`);
    await row.getByTestId('resume').click();
    await row.getByTestId('schedule-status').getByText('active', { exact: true }).waitFor();
    expect((await api(`/v1/schedules/${scheduleId}`)).body).toMatchObject({ status: 'active' });
    await api(`/v1/schedules/${scheduleId}`, { method: 'PATCH', body: { paused: true } });
  });

  it('offers no pause button to a token without jobs:submit', async () => {
    const page = await signedIn(['jobs:read'], '/schedules');
    const row = page.locator(`tr[data-schedule-id="${scheduleId}"]`);
    await row.getByTestId('schedule-status').waitFor();
    expect(await page.getByTestId('pause').count()).toBe(0);
    expect(await page.getByTestId('resume').count()).toBe(0);
  });

  it("renders a job's webhook deliveries on its timeline in words", async () => {
    // The events exactly as the webhooks role appends them to the job's stream (delivery-queue.ts):
    // the role itself is tested in test/webhooks; here only what the timeline makes of them.
    const common = { deliveryId: randomUUID(), url: 'https://hooks.example.com/omni', event: 'JobSucceeded' };
    await stack.store.append(jobStreamId(firedJobId), null, [
      {
        type: 'WebhookFailed',
        schemaVersion: webhookDeliveryEventSchemas.WebhookFailed.version,
        data: { ...common, attempt: 1, reason: 'http-status', status: 503, durationMs: 12, willRetry: true },
        metadata: { tenant, actor: 'webhooks' },
      },
      {
        type: 'WebhookDelivered',
        schemaVersion: webhookDeliveryEventSchemas.WebhookDelivered.version,
        data: { ...common, attempt: 2, status: 204, durationMs: 40 },
        metadata: { tenant, actor: 'webhooks' },
      },
    ]);
    const page = await signedIn(['jobs:read', 'events:read'], `/jobs/${firedJobId}`);
    const failed = page.locator('tr[data-event-type=WebhookFailed]');
    const delivered = page.locator('tr[data-event-type=WebhookDelivered]');
    await delivered.waitFor();
    expect(await failed.locator('.summary').textContent()).toBe(
      'JobSucceeded not delivered to https://hooks.example.com/omni: the receiver answered HTTP 503 (delivery attempt 1, will retry)',
    );
    expect(await delivered.locator('.summary').textContent()).toBe(
      'JobSucceeded delivered to https://hooks.example.com/omni: HTTP 204 in 40 ms (delivery attempt 2)',
    );
    // A delivery's attempt is not the job's: no "Attempt 2" group appears for the second delivery.
    expect(await page.locator('.attempt[data-attempt="2"]').count()).toBe(0);
    expect(await delivered.locator('xpath=ancestor::div[@data-attempt="1"]').count()).toBe(1);
  });
});
