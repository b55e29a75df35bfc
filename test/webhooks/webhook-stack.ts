import { Redis } from 'ioredis';
import type { EventStore } from '../../events/event-store.ts';
import type { AttemptResult } from '../../jobs/job.decider.ts';
import { executeJobCommand } from '../../jobs/job-stream.ts';
import { openSecret, sealSecret } from '../../secrets/secret-cipher.ts';
import { loadConfig } from '../../services/config.ts';
import { mintToken } from '../../services/dev-token.ts';
import { createLogger } from '../../services/logger.ts';
import { composeApi, type RoleDeps, type RunningRole, startWebhooksRole } from '../../services/roles.ts';
import type { SigningKeys } from '../../webhooks/signing-keys.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { testPolicy } from '../support/test-policy.ts';
import { testSecret, testSecretKey } from '../support/test-stack.ts';

export interface WebhookStack {
  readonly database: TestDatabase;
  readonly store: EventStore;
  readonly deps: RoleDeps;
  readonly signing: SigningKeys;
  request(path: string, init?: { method?: string; body?: unknown; tenant?: string }): Promise<Response>;
  /** Submits a job through the API; its id and, with a callback, the callback's secret. */
  submit(body: Record<string, unknown>, tenant?: string): Promise<{ id: string; secret?: string }>;
  /** Drives a job to its end through the job decider, as a worker (or the reconciler) would. */
  finish(jobId: string, how: 'succeeded' | 'failed' | 'abandoned' | 'expired'): Promise<void>;
  /** Starts the webhooks role (as `omni webhooks` does). */
  startRole(): Promise<RunningRole>;
  stop(): Promise<void>;
}

const unlimited = String(1_000_000);

const result = (exitCode: number): AttemptResult => ({
  reason: 'exited',
  exitCode,
  stdout: 'out\n',
  stderr: '',
  outputTruncated: false,
  durationMs: 12,
});

/**
 * The API and (on request) the webhooks role, wired by the shipped composition, over a database
 * of the file's own; no worker or Docker: jobs end by commands through the decider.
 */
export async function startWebhookStack(
  label: string,
  env: { readonly allowPrivate: boolean; readonly timeoutMs?: number; readonly retryForMs?: number },
): Promise<WebhookStack> {
  const database = await createTestDatabase(label);
  const loaded = loadConfig({
    DATABASE_URL: database.url,
    JWT_SECRET: testSecret,
    QUEUE_PREFIX: `test-${label}-${Date.now()}`,
    RATE_LIMIT_PER_SUBJECT: unlimited,
    RATE_LIMIT_PER_TENANT: unlimited,
    RATE_LIMIT_PER_ADDRESS_UNAUTHENTICATED: unlimited,
    WEBHOOK_ALLOW_PRIVATE: String(env.allowPrivate),
    WEBHOOK_TIMEOUT_MS: String(env.timeoutMs ?? 1_000),
    WEBHOOK_RETRY_FOR_MS: String(env.retryForMs ?? 60_000),
  });
  const config = { ...loaded, sandbox: testPolicy, secretKeys: [testSecretKey] };
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  const deps: RoleDeps = {
    config,
    db: database.db,
    // No sandbox runs here; the API and the webhooks role never touch the engine.
    docker: undefined as never,
    logger: createLogger('warn', {}),
    jwtSecret: testSecret,
    redis,
  };
  const api = await composeApi(deps);
  const roles: RunningRole[] = [];
  const request: WebhookStack['request'] = async (path, init = {}) => {
    const token = await mintToken({ secret: testSecret, subject: 'tester', tenant: init.tenant ?? 'acme' });
    return api.app.request(path, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
  };
  const command = (jobId: string, type: Parameters<typeof executeJobCommand>[2]) =>
    executeJobCommand(api.store, jobId, type, { actor: 'test-worker' });
  return {
    database,
    store: api.store,
    deps,
    signing: {
      keys: config.secretKeys,
      seal: (associatedData, value) => sealSecret(testSecretKey, associatedData, value),
      open: (associatedData, sealed) => openSecret(config.secretKeys, associatedData, sealed),
    },
    request,
    async submit(body, tenant) {
      const response = await request('/v1/jobs', { method: 'POST', body, ...(tenant ? { tenant } : {}) });
      if (response.status !== 202)
        throw new Error(`submit answered ${response.status}: ${await response.text()}`);
      const accepted = (await response.json()) as { id: string; callback?: { secret: string } };
      return { id: accepted.id, ...(accepted.callback ? { secret: accepted.callback.secret } : {}) };
    },
    async finish(jobId, how) {
      if (how === 'expired') {
        await command(jobId, { type: 'ExpireAttempt', attempt: 1, now: new Date(Date.now() + 3_600_000) });
        return;
      }
      await command(jobId, { type: 'StartAttempt', attempt: 1, workerId: 'test-worker' });
      const clock = { now: new Date(), random: 0 };
      if (how === 'abandoned') {
        await command(jobId, {
          type: 'AbandonAttempt',
          attempt: 1,
          workerId: 'test-worker',
          reason: 'worker-lost',
          ...clock,
        });
        return;
      }
      await command(jobId, {
        type: 'CompleteAttempt',
        attempt: 1,
        result: result(how === 'succeeded' ? 0 : 1),
        ...clock,
      });
    },
    async startRole() {
      const role = await startWebhooksRole(deps);
      roles.push(role);
      return role;
    },
    async stop() {
      for (const role of roles) await role.stop();
      await api.stop();
      redis.disconnect();
      await database.destroy();
    },
  };
}
