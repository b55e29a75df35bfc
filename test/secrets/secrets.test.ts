import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testImage } from '../support/test-image.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

let stack: TestStack;
let headers: Record<string, string>;
const secretValue = 'sup3r-s3cret-value-42';

beforeAll(async () => {
  stack = await startTestStack('secrets');
  headers = {
    authorization: `Bearer ${await stack.token('alice', { tenant: 'acme' })}`,
    'content-type': 'application/json',
  };
});
afterAll(async () => {
  const leftovers = await stack?.leftoverContainers();
  await stack?.stop();
  expect(leftovers).toEqual([]);
});

async function awaitFinished(id: string) {
  for (let i = 0; i < 300; i++) {
    const job = (await (await stack.app.request(`/v1/jobs/${id}`, { headers })).json()) as {
      status: string;
      stdout: string;
      stderr: string;
    };
    if (job.status === 'succeeded' || job.status === 'failed') return job;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('job did not finish');
}

describe('secrets', () => {
  it('reach the container as env vars but never the events, the logs or the stored output', async () => {
    const put = await stack.app.request('/v1/secrets/api-key', {
      method: 'PUT',
      headers,
      body: JSON.stringify({ value: secretValue }),
    });
    expect(put.status).toBe(204);

    const submitted = await stack.app.request('/v1/jobs', {
      method: 'POST',
      headers,
      body: JSON.stringify({
        image: testImage,
        command: [
          'sh',
          '-c',
          'echo "len=${#API_KEY}"; printf %s "$API_KEY" | md5sum; echo "key is $API_KEY"',
        ],
        secrets: { API_KEY: 'api-key' },
      }),
    });
    expect(submitted.status).toBe(202);
    const { id } = (await submitted.json()) as { id: string };
    const job = await awaitFinished(id);

    // The container saw the real value: its length and hash match.
    const md5 = createHash('md5').update(secretValue).digest('hex');
    expect(job.status).toBe('succeeded');
    expect(job.stdout).toContain(`len=${secretValue.length}`);
    expect(job.stdout).toContain(md5);
    // Printing it is masked before storage.
    expect(job.stdout).toContain('key is [secret]');

    const { rows } = await sql<{
      row: string;
    }>`select (data::text || metadata::text) as row from events`.execute(stack.database.db);
    expect(rows.length).toBeGreaterThan(3);
    for (const { row } of rows) expect(row).not.toContain(secretValue);
    expect(rows.some(({ row }) => row.includes('"API_KEY": "api-key"'))).toBe(true);

    const stored = await sql<{ ciphertext: Buffer }>`select ciphertext from secrets`.execute(
      stack.database.db,
    );
    expect(stored.rows[0]?.ciphertext.toString('latin1')).not.toContain(secretValue);

    expect(stack.logs().length).toBeGreaterThan(0);
    expect(stack.logs().join('\n')).not.toContain(secretValue);

    const list = await stack.app.request('/v1/secrets', { headers });
    expect(await list.json()).toEqual({ secrets: [{ name: 'api-key' }] });
  });

  it('refuses a job naming a secret its tenant does not have, pointing at the variable', async () => {
    const response = await stack.app.request('/v1/jobs', {
      method: 'POST',
      headers,
      body: JSON.stringify({ image: testImage, command: ['true'], secrets: { TOKEN: 'nope' } }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      code: 'validation-failed',
      errors: [{ pointer: '/secrets/TOKEN' }],
    });
  });

  it("does not let one tenant's job use another tenant's secret", async () => {
    const other = { ...headers, authorization: `Bearer ${await stack.token('bob', { tenant: 'globex' })}` };
    const response = await stack.app.request('/v1/jobs', {
      method: 'POST',
      headers: other,
      body: JSON.stringify({ image: testImage, command: ['true'], secrets: { API_KEY: 'api-key' } }),
    });
    expect(response.status).toBe(400);
  });
});
