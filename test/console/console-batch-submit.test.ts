import { randomUUID } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServedApp } from '../../services/api/serve.ts';
import { launchChromium, serveConsole } from '../support/console-browser.ts';
import { labelledJobs } from '../support/labelled-jobs.ts';
import { testImage } from '../support/test-image.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

// No workers: the page is about submitting many jobs and finding each, not about running them.
let stack: TestStack;
let served: ServedApp;
let browser: Browser;
let page: Page;
let token: string;

beforeAll(async () => {
  stack = await startTestStack('console-batch', { withWorkers: false });
  served = await serveConsole(stack);
  browser = await launchChromium();
  page = await browser.newPage();
  page.setDefaultTimeout(30_000);
  token = await stack.token('console-batcher');
  await page.goto(`${served.url}/console/#token=${token}`);
  await page.getByTestId('subject').getByText('console-batcher', { exact: true }).waitFor();
});
afterAll(async () => {
  await browser?.close();
  await served?.close();
  await stack?.stop();
});

/** The jobs the API holds with this run's label, once the list has caught up with the log. */
const jobsOfRun = (run: string) => labelledJobs((path, init) => stack.app.request(path, init), token, run);

const spec = (run: string, command: readonly string[]) =>
  JSON.stringify({ image: testImage, command, labels: { run } });

describe('submitting many jobs from the console', { timeout: 120_000 }, () => {
  it('submits pasted JSON Lines and lists each job, linking to its page', async () => {
    const run = randomUUID();
    const panel = page.getByTestId('batch-submit');
    await panel.getByText('Submit jobs').click();
    await panel.locator('textarea').fill(`${spec(run, ['echo', 'one'])}\n${spec(run, ['echo', 'two'])}\n`);
    await panel.getByRole('button', { name: 'Submit' }).click();
    const rows = panel.getByTestId('batch-result').locator('tbody tr');
    await rows.nth(1).waitFor();
    expect(await rows.count()).toBe(2);
    expect(await rows.evaluateAll((all) => all.map((row) => row.getAttribute('data-outcome')))).toEqual([
      'queued',
      'queued',
    ]);
    const links = rows.getByRole('link');
    const ids = await links.allTextContents();
    expect(await links.evaluateAll((all) => all.map((link) => link.getAttribute('href')))).toEqual(
      ids.map((id) => `/console/jobs/${id}`),
    );
    expect((await jobsOfRun(run)).sort()).toEqual([...ids].sort());
    await links.first().click();
    await page
      .getByTestId('job')
      .locator('h1', { hasText: ids[0] as string })
      .waitFor();
    expect(page.url()).toBe(`${served.url}/console/jobs/${ids[0]}`);
  });

  it('names a line that is not JSON and sends nothing; atomic names the refused line', async () => {
    const run = randomUUID();
    await page.goto(`${served.url}/console/jobs`);
    const panel = page.getByTestId('batch-submit');
    await panel.getByText('Submit jobs').click();
    const textarea = panel.locator('textarea');
    await textarea.fill(`${spec(run, ['true'])}\nnot json\n`);
    await panel.getByRole('button', { name: 'Submit' }).click();
    await panel
      .getByRole('alert')
      .getByText(/line 2: not JSON/)
      .waitFor();
    expect(await jobsOfRun(run)).toEqual([]);

    await textarea.fill(
      `${spec(run, ['true'])}\n${JSON.stringify({ image: 'not-allowed:latest', command: ['true'] })}\n`,
    );
    await panel.getByRole('checkbox', { name: /atomic/ }).check();
    await panel.getByRole('button', { name: 'Submit' }).click();
    await panel
      .getByRole('alert')
      .getByText(/line 2 \/image: .*allowlist/)
      .waitFor();
    expect(await jobsOfRun(run)).toEqual([]);
  });
});
