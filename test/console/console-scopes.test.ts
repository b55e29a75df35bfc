import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServedApp } from '../../services/api/serve.ts';
import { launchChromium, serveConsole } from '../support/console-browser.ts';
import { ensureTestImage, testImage } from '../support/test-image.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

// What a token may do decides what the console offers; the API refuses the rest on its own.
let stack: TestStack;
let served: ServedApp;
let browser: Browser;
const tenant = 'console-scopes';
const restrictedScopes = ['jobs:read', 'jobs:submit', 'events:read'];

beforeAll(async () => {
  await ensureTestImage();
  stack = await startTestStack('console-scopes');
  served = await serveConsole(stack);
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await served?.close();
  await stack?.stop();
});

async function submitAsOwner(spec: Record<string, unknown>): Promise<string> {
  const owner = await stack.token('owner', { tenant });
  const response = await stack.app.request('/v1/jobs', {
    method: 'POST',
    headers: { authorization: `Bearer ${owner}`, 'content-type': 'application/json' },
    body: JSON.stringify({ image: testImage, ...spec }),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

async function cancelAsOwner(id: string): Promise<void> {
  const owner = await stack.token('owner', { tenant });
  await stack.app.request(`/v1/jobs/${id}/cancel`, {
    method: 'POST',
    headers: { authorization: `Bearer ${owner}` },
  });
}

async function newPage(): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(30_000);
  return page;
}

describe('a token without jobs:cancel', () => {
  let page: Page;
  beforeAll(async () => {
    page = await newPage();
  });

  it('signs in by pasting the token, after a refused one', async () => {
    await page.goto(`${served.url}/console/jobs`);
    await page.getByLabel('Bearer token').fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').getByText('Sign-in refused', { exact: false }).waitFor();
    await page
      .getByLabel('Bearer token')
      .fill(await stack.token('viewer', { tenant, scopes: restrictedScopes }));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('subject').getByText('viewer', { exact: true }).waitFor();
    expect(await page.getByTestId('tenant').textContent()).toBe(tenant);
    expect(page.url()).toBe(`${served.url}/console/jobs`);
  });

  it('sees no cancel button on a running job, and the API refuses the call made directly', async () => {
    const id = await submitAsOwner({ command: ['sleep', '60'] });
    try {
      await page.goto(`${served.url}/console/jobs/${id}`);
      await page.locator('[data-testid=job] h1 [data-status=running]').waitFor();
      expect(await page.getByTestId('cancel').count()).toBe(0);
      const refusal = await page.evaluate<{ status: number; code: string }, string>(async (jobId) => {
        const token = sessionStorage.getItem('omni.console.token');
        const response = await fetch(`/v1/jobs/${jobId}/cancel`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}` },
        });
        return { status: response.status, code: ((await response.json()) as { code: string }).code };
      }, id);
      expect(refusal).toEqual({ status: 403, code: 'insufficient-scope' });
      expect(await page.locator('[data-testid=job] h1 [data-status=running]').count()).toBe(1);
    } finally {
      await cancelAsOwner(id);
    }
  });

  it('filters the jobs table by a label from the query string', async () => {
    const blue = await submitAsOwner({ command: ['true'], labels: { team: 'blue' } });
    const red = await submitAsOwner({ command: ['true'], labels: { team: 'red' } });
    await page.goto(`${served.url}/console/jobs`);
    await page.locator(`tr[data-job-id="${red}"]`).waitFor();
    await page.getByTestId('filters').locator('input[name=label]').fill('team=blue');
    await page.getByTestId('filters').getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(`${served.url}/console/jobs?label=team%3Dblue`);
    const row = page.locator(`tr[data-job-id="${blue}"]`);
    await row.waitFor();
    expect(await row.locator('.label').allTextContents()).toEqual(['team=blue']);
    expect(await page.locator(`tr[data-job-id="${red}"]`).count()).toBe(0);
  });
});

describe('an admin', () => {
  it('follows the event log and sees queue health', async () => {
    const page = await newPage();
    const admin = await stack.token('root', { scopes: ['admin'] });
    await page.goto(`${served.url}/console/#token=${admin}`);
    await page.getByRole('link', { name: 'Event log' }).waitFor();
    const id = await submitAsOwner({ command: ['sleep', '60'] });
    try {
      await page.goto(`${served.url}/console/health`);
      await page.getByTestId('tenants').getByRole('cell', { name: tenant, exact: true }).waitFor();
      await page.goto(`${served.url}/console/events?stream=job-${id}&follow=1`);
      const table = page.getByTestId('events-table');
      await table.locator('[data-event-type=JobStarted]').waitFor();
      await cancelAsOwner(id);
      // Appended after the page loaded: the follow feed brings it.
      await table.locator('[data-event-type=JobCancelled]').waitFor();
      await table
        .getByRole('link', { name: `job-${id}` })
        .first()
        .click();
      await page.waitForURL(`${served.url}/console/jobs/${id}`);
      await page.locator('[data-testid=job] h1 [data-status=cancelled]').waitFor();
    } finally {
      await cancelAsOwner(id);
    }
  });
});
