import { describe, expect, it } from 'vitest';
import { runJobMessageSchema } from '../../workers/job-queue.ts';
import { attemptMessage } from '../../workers/lifecycle/attempt-message.ts';

const jobId = '0192f5c4-8b7e-7c3a-9d2e-5f6a7b8c9d0e';

describe('an attempt message', () => {
  it('carries its tenant, so a worker checks the tenant limit before reading the job', () => {
    const message = attemptMessage({ jobId, attempt: 2, tenant: 'acme', priority: 80 }, Date.now());
    expect(runJobMessageSchema.parse(message.data)).toEqual({ jobId, attempt: 2, tenant: 'acme' });
    expect(message.opts).toMatchObject({ jobId: `${jobId}-2`, priority: 21 });
  });

  it('is refused without a tenant: no producer sends one, and the worker has no other place to check the limit', () => {
    expect(runJobMessageSchema.safeParse({ jobId, attempt: 1 }).success).toBe(false);
  });
});
