// Takes the console screenshots the README shows (docs/console-*.png) against a real stack:
//   npm run build:console && node test/console/take-screenshots.ts
// Needs what the tests need (Postgres, Redis, Docker, the test image, /usr/bin/chromium).
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createApp } from '../../services/api/app.ts';
import { serveApp } from '../../services/api/serve.ts';
import { launchChromium, serveConsole } from '../support/console-browser.ts';
import { eventually } from '../support/eventually.ts';
import { ensureTestImage, testImage } from '../support/test-image.ts';
import { testPolicy } from '../support/test-policy.ts';
import { startTestStack, testTokenVerifier } from '../support/test-stack.ts';

const docs = fileURLToPath(new URL('../../docs/', import.meta.url));

const stack = await startTestStack('console-screenshots');
const served = await serveConsole(stack);
// Queue health shows each tenant against the cap the API is told (TENANT_MAX_RUNNING, 8 by default).
const withCap = await serveApp(
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
const browser = await launchChromium();
try {
  await ensureTestImage();
  await mkdir(docs, { recursive: true });
  const submitter = await stack.token('dev-user');
  const submit = async (command: readonly string[], extra: Record<string, unknown> = {}) => {
    const response = await stack.app.request('/v1/jobs', {
      method: 'POST',
      headers: { authorization: `Bearer ${submitter}`, 'content-type': 'application/json' },
      body: JSON.stringify({ image: testImage, command, ...extra }),
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
  const upload = await stack.app.request('/v1/files?name=rows.csv', {
    method: 'POST',
    headers: { authorization: `Bearer ${submitter}`, 'content-type': 'text/csv' },
    body: 'id,amount\n1,20\n2,22\n',
  });
  const input = (await upload.json()) as { id: string };

  const finished = [
    await submit(['sh', '-c', 'echo report built; echo 3 files written >&2'], { labels: { team: 'data' } }),
    await submit(['sh', '-c', 'echo checking; exit 3'], { labels: { team: 'data', env: 'staging' } }),
    await submit(['sh', '-c', 'wc -c /etc/passwd']),
    await submit(['sh', '-c', 'exit 1'], { labels: { team: 'web' } }),
    await submit(['sh', '-c', 'echo ok']),
  ];
  const shown = await submit(
    [
      'sh',
      '-c',
      'for i in 1 2 3; do echo step $i; sleep 1; done; wc -l /tmp/rows.csv > /out/report.txt; echo done',
    ],
    { labels: { team: 'web' }, inputs: [{ file: input.id, path: '/tmp/rows.csv' }], outputs: ['/out/*'] },
  );
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
  await page.locator('[data-testid=history][data-verified=true]').waitFor();
  await page.getByTestId('artifacts').waitFor();
  await page.locator('[data-testid=timeline] [data-event-type=JobStarted] td.type').click();
  await page.screenshot({ path: `${docs}console-job.png`, fullPage: true });

  const healthPage = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  healthPage.setDefaultTimeout(30_000);
  await healthPage.goto(`${withCap.url}/console/health#token=${admin}`);
  await healthPage.locator(`[data-testid=workers] [data-held-job="${running}"]`).waitFor();
  await healthPage.getByTestId('throughput').locator('rect').first().waitFor();
  await healthPage.screenshot({ path: `${docs}console-health.png`, fullPage: true });
  await stack.app.request(`/v1/jobs/${running}/cancel`, {
    method: 'POST',
    headers: { authorization: `Bearer ${submitter}` },
  });
  process.stdout.write(`wrote ${docs}console-jobs.png, console-job.png, console-health.png\n`);
} finally {
  await browser.close();
  await withCap.close();
  await served.close();
  await stack.stop();
}
