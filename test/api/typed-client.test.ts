import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOmniClient, OmniProblemError, OmniUnreachableError } from '../../client/index.ts';
import { type ServedApp, serveApp } from '../../services/api/serve.ts';
import { ensureTestImage, testImage } from '../support/test-image.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

let stack: TestStack;
let server: ServedApp;
let token: string;

beforeAll(async () => {
  await ensureTestImage();
  stack = await startTestStack('typed-client');
  server = await serveApp(stack.app, { port: 0, host: '127.0.0.1' });
  token = await stack.token('client-user');
}, 120_000);
afterAll(async () => {
  await server?.close();
  await stack?.stop();
});

describe('@omni/client against the API', { timeout: 120_000 }, () => {
  it('submits a job and waits for it, as the README shows', async () => {
    const omni = createOmniClient({ url: server.url, token });
    const { id } = await omni.submitJob({ image: testImage, command: ['echo', 'hello'] });
    const seen: string[] = [];
    const job = await omni.waitForJob(id, { onEvent: (event) => seen.push(event.type) });
    expect(job).toMatchObject({ id, status: 'succeeded', exitCode: 0, stdout: 'hello\n' });
    expect(seen).toEqual(expect.arrayContaining(['JobSubmitted', 'JobStarted', 'JobSucceeded']));
  });

  it('calls any route typed, and throws a refusal as a problem with its status, code and fields', async () => {
    const omni = createOmniClient({ url: server.url, token });
    const { data } = await omni.api.GET('/v1/me');
    expect(data).toMatchObject({ subject: 'client-user', tenant: 'default' });
    const refused = await omni
      .submitJob({ image: 'not-allowed:latest', command: ['true'] })
      .catch((error) => error);
    expect(refused).toBeInstanceOf(OmniProblemError);
    expect(refused).toMatchObject({ status: 400, code: 'validation-failed' });
    expect((refused as OmniProblemError).errors).toEqual([
      expect.objectContaining({ pointer: '/image', detail: expect.stringContaining('allowlist') }),
    ]);
    const missing = await omni.getJob('00000000-0000-4000-8000-000000000000').catch((error) => error);
    expect(missing).toMatchObject({ status: 404, code: 'job-not-found' });
  });

  it('says an API it cannot reach is unreachable, and a bad token is refused with 401', async () => {
    const nowhere = createOmniClient({ url: 'http://127.0.0.1:9', token });
    await expect(nowhere.getJob('x')).rejects.toBeInstanceOf(OmniUnreachableError);
    let told = 0;
    const stale = createOmniClient({
      url: server.url,
      token: 'not-a-jwt',
      onUnauthorized: () => (told += 1),
    });
    await expect(stale.api.GET('/v1/me')).rejects.toMatchObject({ status: 401 });
    expect(told).toBe(1);
  });
});
