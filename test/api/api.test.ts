import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

let stack: TestStack;
let token: string;

beforeAll(async () => {
  // No dispatcher or worker: these tests look at the API's answers only.
  stack = await startTestStack('api', { withWorkers: false });
  token = await stack.token();
});
afterAll(() => stack?.stop());

const post = (body: string, headers: Record<string, string> = {}) =>
  stack.app.request('/v1/jobs', {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...headers },
  });

async function expectProblem(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toBe('application/problem+json');
  const problem = await response.json();
  expect(problem).toMatchObject({ status, code });
  expect(JSON.stringify(problem)).not.toMatch(/at .*\.ts:\d+|select |insert /i);
  return problem as { errors?: Array<{ pointer: string; detail: string }> };
}

describe('API', () => {
  it('answers /healthz without a token', async () => {
    const response = await stack.app.request('/healthz');
    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toBeTruthy();
  });

  it('refuses a request without a token: 401 problem+json', async () => {
    const response = await post(JSON.stringify({ image: 'omni-busybox:latest', command: ['true'] }));
    await expectProblem(response, 401, 'unauthorized');
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('refuses a token signed with another key, and a garbled one', async () => {
    const forged = `${token.slice(0, token.lastIndexOf('.'))}.${'A'.repeat(43)}`;
    await expectProblem(await post('{}', { authorization: `Bearer ${forged}` }), 401, 'unauthorized');
    await expectProblem(await post('{}', { authorization: 'Bearer not-a-jwt' }), 401, 'unauthorized');
  });

  it('refuses malformed JSON: 400 problem+json', async () => {
    await expectProblem(
      await post('{"image": ', { authorization: `Bearer ${token}` }),
      400,
      'malformed-request',
    );
  });

  it('refuses an invalid body with a pointer to each bad field', async () => {
    const response = await post(
      JSON.stringify({ image: 'omni-busybox:latest', command: 'echo hi', limits: { pids: -1 }, extra: 1 }),
      {
        authorization: `Bearer ${token}`,
      },
    );
    const problem = await expectProblem(response, 400, 'validation-failed');
    expect(problem.errors?.map((error) => error.pointer).sort()).toEqual([
      '/command',
      '/extra',
      '/limits/pids',
    ]);
  });

  it('refuses an image that is not on the allowlist, pointing at /image', async () => {
    const response = await post(JSON.stringify({ image: 'alpine:latest', command: ['true'] }), {
      authorization: `Bearer ${token}`,
    });
    const problem = await expectProblem(response, 400, 'validation-failed');
    expect(problem.errors).toEqual([{ pointer: '/image', detail: expect.stringContaining('allowlist') }]);
  });

  it('accepts a job: 202 with id, status and links; its history names the actor', async () => {
    const response = await post(JSON.stringify({ image: 'omni-busybox:latest', command: ['echo', 'hi'] }), {
      authorization: `Bearer ${await stack.token('alice')}`,
    });
    expect(response.status).toBe(202);
    const body = (await response.json()) as {
      id: string;
      status: string;
      links: { self: string; events: string };
    };
    expect(body).toMatchObject({ status: 'queued', links: { self: `/v1/jobs/${body.id}` } });
    expect(response.headers.get('location')).toBe(body.links.self);

    const job = await stack.app.request(body.links.self, { headers: { authorization: `Bearer ${token}` } });
    expect(await job.json()).toMatchObject({
      id: body.id,
      status: 'queued',
      submittedBy: 'alice',
      exitCode: null,
    });

    const history = await stack.app.request(body.links.events, {
      headers: { authorization: `Bearer ${token}` },
    });
    const { events } = (await history.json()) as {
      events: Array<{ type: string; metadata: { actor: string; requestId: string } }>;
    };
    expect(events.map((e) => e.type)).toEqual(['JobSubmitted']);
    expect(events[0]?.metadata.actor).toBe('alice');
    expect(events[0]?.metadata.requestId).toBe(response.headers.get('x-request-id'));
  });

  it('answers 404 problem+json for an unknown or malformed job id', async () => {
    const headers = { authorization: `Bearer ${token}` };
    await expectProblem(
      await stack.app.request(`/v1/jobs/${randomUUID()}`, { headers }),
      404,
      'job-not-found',
    );
    await expectProblem(
      await stack.app.request(`/v1/jobs/${randomUUID()}/events`, { headers }),
      404,
      'job-not-found',
    );
    await expectProblem(await stack.app.request('/v1/jobs/..%2Fetc', { headers }), 404, 'job-not-found');
    await expectProblem(await stack.app.request('/v1/nothing', { headers }), 404, 'route-not-found');
  });
});
