import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.ts';
import { ensureTestImage } from '../support/test-image.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

// An image the operator allowed but never built or pulled: the engine has no such image.
const missingImage = `omni-never-built-${randomUUID().slice(0, 8)}:latest`;
let stack: TestStack;
let auth: Record<string, string>;

beforeAll(async () => {
  await ensureTestImage();
  stack = await startTestStack('image-missing', { extraAllowedImages: [missingImage] });
  auth = { authorization: `Bearer ${await stack.token('operator')}` };
});
afterAll(() => stack?.stop());

describe('an allowlisted image the engine lacks', () => {
  it('is named by the worker at start, with how to provide it; the images it has are not', async () => {
    const warnings = await eventually(
      async () =>
        stack
          .logs()
          .map((line) => JSON.parse(line) as { level: number; image?: string; code?: string; msg: string })
          .filter((line) => line.code === 'image-missing'),
      (lines) => lines.length > 0,
    );
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40, image: missingImage });
    expect(warnings[0]?.msg).toContain(`docker pull ${missingImage}`);
    expect(warnings[0]?.msg).toContain('SANDBOX_PULL_MISSING');
  });

  it('fails the job at once as image-missing, says what to do, and spends no retry on it', async () => {
    const submitted = await stack.app.request('/v1/jobs', {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        image: missingImage,
        command: ['true'],
        // A policy that retries sandbox errors: a missing image is not one of them.
        retry: { maxAttempts: 3, on: ['sandbox-error'], backoff: { initialMs: 10 } },
      }),
    });
    expect(submitted.status).toBe(202);
    const { id } = (await submitted.json()) as { id: string };
    const job = await eventually(
      async () =>
        (await (await stack.app.request(`/v1/jobs/${id}`, { headers: auth })).json()) as {
          status: string;
          attempt: number;
          failureReason: string | null;
          failureMessage: string | null;
        },
      (view) => view.status === 'failed',
    );
    expect(job).toMatchObject({ status: 'failed', attempt: 1, failureReason: 'image-missing' });
    expect(job.failureMessage).toContain(missingImage);
    expect(job.failureMessage).toMatch(/SANDBOX_PULL_MISSING/);
    // Nothing more happens: no second attempt is ever scheduled.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const { events } = (await (
      await stack.app.request(`/v1/jobs/${id}/events`, { headers: auth })
    ).json()) as {
      events: { type: string }[];
    };
    const types = events.map((event) => event.type);
    expect(types.filter((type) => type === 'JobStarted')).toHaveLength(1);
    expect(types).not.toContain('JobRetryScheduled');
    expect(types.at(-1)).toBe('JobFailed');
  });
});
