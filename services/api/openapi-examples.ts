// Examples the reference shows, shared by the routes that answer the same shapes. Each must parse
// with the schema it illustrates (test/api/openapi.test.ts checks every one).

export const exampleJobId = '8f0c6a52-3f0e-4c3e-9d6b-6d0f1c0b9a11';

export const exampleJobLinks = {
  self: `/v1/jobs/${exampleJobId}`,
  events: `/v1/jobs/${exampleJobId}/events`,
};

export const exampleJobView = {
  id: exampleJobId,
  status: 'succeeded' as const,
  attempt: 1,
  image: 'omni-busybox:latest',
  command: ['echo', 'hello'],
  submittedBy: 'dev-user',
  submittedAt: '2026-11-30T01:55:42.018Z',
  startedAt: '2026-11-30T01:55:42.111Z',
  finishedAt: '2026-11-30T01:55:42.615Z',
  durationMs: 343,
  exitCode: 0,
  failureReason: null,
  failureMessage: null,
  stdout: 'hello\n',
  stderr: '',
  outputTruncated: false,
  labels: { team: 'data' },
  links: exampleJobLinks,
};

export const exampleJobEvent = {
  position: 1,
  streamId: `job-${exampleJobId}`,
  streamVersion: 1,
  eventId: '0b7e0d2c-2b53-4a8e-9d0e-0f3c9b1f7a21',
  type: 'JobSubmitted',
  schemaVersion: 1,
  data: { spec: { image: 'omni-busybox:latest', command: ['echo', 'hello'] } },
  metadata: { actor: 'dev-user', tenant: 'default' },
  recordedAt: '2026-11-30T01:55:42.018Z',
};

export const exampleVerifyRun = {
  id: 'd12b27fe-62c5-4423-9836-b123cd5a9843',
  status: 'running' as const,
  sinceCheckpoint: false,
  eventsChecked: 45000,
  startedAt: '2026-12-02T07:20:11.386Z',
  finishedAt: null,
  result: null,
};

const exampleFileId = '3d1b2c4e-5f60-4a7b-8c9d-0e1f2a3b4c5d';
export const exampleFile = {
  id: exampleFileId,
  name: 'sales.csv',
  contentType: 'text/csv',
  size: 40,
  sha256: 'ba03ecad1e4ac5f9d2cd2b2bfccfdc8b4855127ac040dab21e7ab4bb58f0a2b4',
  kind: 'upload' as const,
  jobId: null,
  attempt: null,
  createdBy: 'dev-user',
  createdAt: '2026-11-30T05:12:09.968Z',
  links: { content: `/v1/files/${exampleFileId}`, meta: `/v1/files/${exampleFileId}/meta` },
};

export const exampleWebhook = {
  id: '5b7e1f7a-2c3d-4e5f-8a9b-0c1d2e3f4a5b',
  url: 'https://hooks.example.com/omni',
  events: ['JobSucceeded' as const, 'JobFailed' as const],
  createdAt: '2026-12-03T09:40:00.000Z',
};
