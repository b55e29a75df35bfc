import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort } from '../support/private-port.ts';
import { type RoleProcess, startRoleProcess } from '../support/role-process.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { testImage } from '../support/test-image.ts';

// A role run without the API serves its own /metrics on METRICS_PORT: the dispatcher's queue depth
// and a worker's sandbox durations exist only in their processes.

let database: TestDatabase;
const processes: RoleProcess[] = [];

beforeAll(async () => {
  database = await createTestDatabase('role_metrics');
});
afterAll(async () => {
  for (const role of processes) await role.kill('SIGTERM');
  await database?.destroy();
});

const environment = (metricsPort: number) => ({
  DATABASE_URL: database.url,
  REDIS_URL: 'redis://127.0.0.1:6379',
  QUEUE_PREFIX: `test-${randomUUID()}`,
  SANDBOX_IMAGES: testImage,
  JWT_SECRET: 'a-secret-for-this-test-that-is-long-enough',
  LOG_LEVEL: 'info',
  METRICS_PORT: String(metricsPort),
});

it('a dispatcher and a worker each serve /metrics on METRICS_PORT, with the metrics their process keeps', async () => {
  const [dispatcherPort, workerPort] = [await freePort(), await freePort()];
  const dispatcher = startRoleProcess('dispatcher', environment(dispatcherPort));
  const worker = startRoleProcess('worker', environment(workerPort));
  processes.push(dispatcher, worker);
  await dispatcher.waitFor(/metrics listening/, 30_000);
  await worker.waitFor(/metrics listening/, 30_000);

  const dispatcherMetrics = await fetch(`http://127.0.0.1:${dispatcherPort}/metrics`);
  expect(dispatcherMetrics.status).toBe(200);
  expect(dispatcherMetrics.headers.get('content-type')).toContain('text/plain');
  // The queue gauges are observed by the dispatcher only.
  expect(await dispatcherMetrics.text()).toMatch(/^omni_queue_depth\{/m);
  const workerMetrics = await fetch(`http://127.0.0.1:${workerPort}/metrics`);
  expect(workerMetrics.status).toBe(200);
  expect((await fetch(`http://127.0.0.1:${workerPort}/healthz`)).status).toBe(200);
  // Nothing else is served there: no API on a metrics port.
  expect((await fetch(`http://127.0.0.1:${workerPort}/v1/jobs`)).status).toBe(404);
}, 60_000);
