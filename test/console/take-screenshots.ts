// Takes the console screenshots in docs/ against a real stack (the README does not show them yet):
//   npm run build:console && node test/console/take-screenshots.ts
// Needs what the tests need (Postgres, Redis, Docker, the test image, /usr/bin/chromium).
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { launchChromium, serveConsole } from '../support/console-browser.ts';
import { eventually } from '../support/eventually.ts';
import { ensureTestImage, testImage } from '../support/test-image.ts';
import { startTestStack } from '../support/test-stack.ts';

const docs = fileURLToPath(new URL('../../docs/', import.meta.url));

const stack = await startTestStack('console-screenshots');
const served = await serveConsole(stack);
const browser = await launchChromium();
try {
  await ensureTestImage();
  await mkdir(docs, { recursive: true });
  const submitter = await stack.token('dev-user');
  const submit = async (command: readonly string[], labels?: Record<string, string>) => {
    const response = await stack.app.request('/v1/jobs', {
      method: 'POST',
      headers: { authorization: `Bearer ${submitter}`, 'content-type': 'application/json' },
      body: JSON.stringify({ image: testImage, command, ...(labels ? { labels } : {}) }),
    });
    if (response.status !== 202)
      throw new Error(`submit answered ${response.status}: ${await response.text()}`);
    return ((await response.json()) as { id: string }).id;
  };
  const statusOf = async (id: string) =>
    (
      (await (
        await stack.app.request(`/v1/jobs/${id}`, { headers: { authorization: `Bearer ${submitter}` } })
      ).json()) as { status: string }
    ).status;
  // Labels only where the API takes them (the field arrives with the label filter).
  const labelled = async (command: readonly string[], labels: Record<string, string>) =>
    submit(command, labels).catch(() => submit(command));

  const finished = [
    await labelled(['sh', '-c', 'echo report built; echo 3 files written >&2'], { team: 'data' }),
    await labelled(['sh', '-c', 'echo checking; exit 3'], { team: 'data', env: 'staging' }),
    await submit(['sh', '-c', 'wc -c /etc/passwd']),
  ];
  const shown = await labelled(['sh', '-c', 'for i in 1 2 3; do echo step $i; sleep 1; done; echo done'], {
    team: 'web',
  });
  for (const id of [...finished, shown])
    await eventually(
      () => statusOf(id),
      (status) => status === 'succeeded' || status === 'failed',
      60_000,
    );
  const running = await submit(['sleep', '30']);
  await eventually(
    () => statusOf(running),
    (status) => status === 'running',
    30_000,
  );

  const admin = await stack.token('dev-user', { scopes: ['admin'] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
  page.setDefaultTimeout(30_000);
  await page.goto(`${served.url}/console/#token=${admin}`);
  await page.locator(`tr[data-job-id="${running}"] [data-status=running]`).waitFor();
  await page.screenshot({ path: `${docs}console-jobs.png` });

  await page.goto(`${served.url}/console/jobs/${shown}`);
  await page.locator('[data-testid=timeline] [data-event-type=JobSucceeded]').waitFor();
  await page.locator('[data-testid=timeline] [data-event-type=JobStarted]').click();
  await page.screenshot({ path: `${docs}console-job.png`, fullPage: true });

  await page.goto(`${served.url}/console/health`);
  await page.getByTestId('tenants').getByRole('cell', { name: 'default', exact: true }).waitFor();
  await page.screenshot({ path: `${docs}console-health.png` });
  await stack.app.request(`/v1/jobs/${running}/cancel`, {
    method: 'POST',
    headers: { authorization: `Bearer ${submitter}` },
  });
  process.stdout.write(`wrote ${docs}console-jobs.png, console-job.png, console-health.png\n`);
} finally {
  await browser.close();
  await served.close();
  await stack.stop();
}
