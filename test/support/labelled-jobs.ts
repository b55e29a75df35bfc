import { expect } from 'vitest';
import { eventually } from './eventually.ts';
import { testImage } from './test-image.ts';

/** Calls the API as one client: a path and a request, like `app.request` or a fetch bound to a server. */
export type ApiRequest = (path: string, init?: RequestInit) => Response | Promise<Response>;

/**
 * The ids of the jobs the jobs list holds labelled `run=<run>`, read only once the read model has
 * folded everything committed before this call. The list lags the log, so reading it at once can
 * miss jobs just made, and a check that nothing was made would pass whatever was. A marker job with
 * the same label is submitted last and waited for: the read model folds the log in order, so once
 * it lists the marker it lists every job committed earlier. Markers are left out of the answer.
 */
export async function labelledJobs(request: ApiRequest, token: string, run: string): Promise<string[]> {
  const headers = { authorization: `Bearer ${token}` };
  const submitted = await request('/v1/jobs', {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ image: testImage, command: ['true'], labels: { run, marker: 'true' } }),
  });
  expect(submitted.status, 'the marker job').toBe(202);
  const marker = ((await submitted.json()) as { id: string }).id;
  const listed = await eventually(
    async () => {
      const response = await request(`/v1/jobs?label=run=${run}&limit=200`, { headers });
      expect(response.status, 'the jobs list').toBe(200);
      return (await response.json()) as { jobs: { id: string; labels?: Record<string, string> }[] };
    },
    (page) => page.jobs.some((job) => job.id === marker),
  );
  expect(
    listed.jobs.map((job) => job.id),
    'the read model never listed the marker job',
  ).toContain(marker);
  // Markers of earlier calls for the same run are left out too.
  return listed.jobs.filter((job) => job.labels?.marker !== 'true').map((job) => job.id);
}
