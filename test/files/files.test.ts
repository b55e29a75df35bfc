import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresBlobStore } from '../../files/postgres-blob-store.ts';
import { runVerify } from '../../services/cli/verify.command.ts';
import { eventually } from '../support/eventually.ts';
import { testImage } from '../support/test-image.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

// Files in and out through the whole product: upload, a job that reads and writes files, download.
let stack: TestStack;
let acme: string;
let globex: string;
const kibibyte = 1024;
const maxUploadBytes = 256 * kibibyte;

beforeAll(async () => {
  stack = await startTestStack('files', {
    maxUploadBytes,
    fileLimits: {
      maxInputBytes: 512 * kibibyte,
      outputsTmpfsBytes: 2 * 1024 * kibibyte,
      artifactMaxBytes: 32 * kibibyte,
      artifactMaxCount: 8,
    },
  });
  acme = `Bearer ${await stack.token('alice', { tenant: 'acme' })}`;
  globex = `Bearer ${await stack.token('mallory', { tenant: 'globex' })}`;
});
afterAll(async () => {
  const leftovers = await stack?.leftoverContainers();
  await stack?.stop();
  expect(leftovers).toEqual([]);
});

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

interface FileView {
  id: string;
  name: string;
  size: number;
  sha256: string;
  contentType: string;
}
interface ArtifactView {
  fileId: string;
  path: string;
  size: number;
  sha256: string;
  contentType: string;
  links: { content: string };
}
interface JobView {
  status: string;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  artifacts: ArtifactView[];
  refusedOutputs: { path: string; reason: string; detail?: string }[];
}

async function upload(auth: string, name: string, body: Buffer | string, contentType = 'text/csv') {
  return stack.app.request(`/v1/files?name=${encodeURIComponent(name)}`, {
    method: 'POST',
    headers: { authorization: auth, 'content-type': contentType },
    body,
  });
}

async function submit(auth: string, spec: Record<string, unknown>) {
  const response = await stack.app.request('/v1/jobs', {
    method: 'POST',
    headers: { authorization: auth, 'content-type': 'application/json' },
    body: JSON.stringify({ image: testImage, ...spec }),
  });
  return response;
}

async function finished(auth: string, id: string): Promise<JobView> {
  const job = await eventually(
    async () =>
      (await (
        await stack.app.request(`/v1/jobs/${id}`, { headers: { authorization: auth } })
      ).json()) as JobView,
    (view) => view.status === 'succeeded' || view.status === 'failed',
    60_000,
  );
  if (job.status !== 'succeeded' && job.status !== 'failed')
    throw new Error(`job ${id} is still ${job.status}`);
  return job;
}

async function run(spec: Record<string, unknown>): Promise<{ id: string; job: JobView }> {
  const response = await submit(acme, spec);
  expect(response.status).toBe(202);
  const { id } = (await response.json()) as { id: string };
  return { id, job: await finished(acme, id) };
}

describe('files', () => {
  it('a job reads an uploaded CSV and writes a summary the client downloads byte for byte', async () => {
    const csv = 'region,amount\nnorth,12\nsouth,30\nnorth,8\n';
    const uploaded = await upload(acme, 'sales.csv', csv);
    expect(uploaded.status).toBe(201);
    const file = (await uploaded.json()) as FileView;
    expect(file).toMatchObject({
      name: 'sales.csv',
      size: csv.length,
      sha256: sha256(csv),
      contentType: 'text/csv',
    });

    const { id, job } = await run({
      command: [
        'sh',
        '-c',
        'awk -F, \'NR>1 {t[$1]+=$2} END {printf "{\\"north\\":%d,\\"south\\":%d}\\n", t["north"], t["south"]}\' /tmp/in/sales.csv > /out/summary.json',
      ],
      inputs: [{ file: file.id, path: '/tmp/in/sales.csv' }],
      outputs: ['/out/summary.json'],
    });
    expect(job).toMatchObject({ status: 'succeeded', refusedOutputs: [] });
    const expected = '{"north":20,"south":30}\n';
    expect(job.artifacts).toEqual([
      expect.objectContaining({ path: '/out/summary.json', size: expected.length, sha256: sha256(expected) }),
    ]);
    const artifact = job.artifacts[0] as ArtifactView;
    const download = await stack.app.request(artifact.links.content, { headers: { authorization: acme } });
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('application/json');
    expect(download.headers.get('content-disposition')).toContain('attachment; filename="summary.json"');
    expect(download.headers.get('etag')).toBe(`"${sha256(expected)}"`);
    expect(Buffer.from(await download.arrayBuffer()).equals(Buffer.from(expected))).toBe(true);

    // The uploaded input downloads byte for byte too, and the job's events name it by hash.
    const original = await stack.app.request(`/v1/files/${file.id}`, { headers: { authorization: acme } });
    expect(await original.text()).toBe(csv);
    const events = (await stack.store.readStream(`job-${id}`)).map((event) => event.type);
    expect(events).toEqual(['JobSubmitted', 'JobStarted', 'ArtifactStored', 'JobSucceeded']);
  });

  it('refuses an output over the cap with a recorded reason while keeping the others; never follows a symlink', async () => {
    const { id, job } = await run({
      command: [
        'sh',
        '-c',
        [
          'echo small > /out/small.txt',
          'head -c 40000 /dev/zero > /out/huge.bin',
          'ln -s /etc/passwd /out/passwd',
          'printf "\\x89PNG" > /out/plot.png',
        ].join('; '),
      ],
      outputs: ['/out/*.txt', '/out/*.bin', '/out/passwd', '/out/*.png'],
    });
    expect(job.status).toBe('succeeded');
    expect(job.artifacts.map((artifact) => [artifact.path, artifact.contentType]).sort()).toEqual([
      ['/out/plot.png', 'image/png'],
      ['/out/small.txt', 'text/plain; charset=utf-8'],
    ]);
    expect(job.refusedOutputs).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: '/out/huge.bin', reason: 'too-large' }),
        expect.objectContaining({ path: '/out/passwd', reason: 'symlink', detail: 'points to /etc/passwd' }),
      ]),
    );
    // The log records the refusals too, so the history says what was left behind and why.
    const refused = (await stack.store.readStream(`job-${id}`)).filter(
      (event) => event.type === 'ArtifactRefused',
    );
    expect(refused.map((event) => (event.data as { reason: string }).reason).sort()).toEqual([
      'symlink',
      'too-large',
    ]);
    // Nothing stored anywhere holds the host's or the image's passwd file.
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from blobs where position('root:' in convert_from(content, 'LATIN1')) > 0
    `.execute(stack.database.db);
    expect(rows[0]?.n).toBe(0);
  });

  it("keeps tenants apart: another tenant's file is a 404 to read, download, delete or use as an input", async () => {
    const file = (await (await upload(acme, 'private.csv', 'secret,1\n')).json()) as FileView;
    for (const path of [`/v1/files/${file.id}`, `/v1/files/${file.id}/meta`]) {
      const response = await stack.app.request(path, { headers: { authorization: globex } });
      expect(response.status, path).toBe(404);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(await response.json()).toMatchObject({ code: 'file-not-found' });
    }
    const deleted = await stack.app.request(`/v1/files/${file.id}`, {
      method: 'DELETE',
      headers: { authorization: globex },
    });
    expect(deleted.status).toBe(404);
    const listed = (await (
      await stack.app.request('/v1/files', { headers: { authorization: globex } })
    ).json()) as {
      files: FileView[];
    };
    expect(listed.files.map((entry) => entry.id)).not.toContain(file.id);
    const job = await submit(globex, {
      command: ['cat', '/tmp/x'],
      inputs: [{ file: file.id, path: '/tmp/x' }],
    });
    expect(job.status).toBe(400);
    expect(await job.json()).toMatchObject({ errors: [{ pointer: '/inputs/0/file' }] });
    // Its owner still reads it.
    expect(
      (await stack.app.request(`/v1/files/${file.id}`, { headers: { authorization: acme } })).status,
    ).toBe(200);
  });

  it('answers an upload over the cap with 413 problem+json and leaves nothing behind', async () => {
    const count = async () => {
      const { rows } = await sql<{ files: number; blobs: number; events: number }>`
        select (select count(*)::int from files) as files, (select count(*)::int from blobs) as blobs,
               (select count(*)::int from events) as events
      `.execute(stack.database.db);
      return rows[0];
    };
    const before = await count();
    const tooBig = Buffer.alloc(maxUploadBytes + 1, 1);
    const declared = await upload(acme, 'big.bin', tooBig, 'application/octet-stream');
    expect(declared.status).toBe(413);
    expect(declared.headers.get('content-type')).toBe('application/problem+json');
    expect(await declared.json()).toMatchObject({ status: 413, code: 'file-too-large' });
    // Without a Content-Length (chunked), the stream itself is cut at the cap.
    const streamed = await stack.app.request('/v1/files?name=big.bin', {
      method: 'POST',
      headers: { authorization: acme, 'content-type': 'application/octet-stream' },
      body: new ReadableStream({
        start(controller) {
          for (let sent = 0; sent <= maxUploadBytes; sent += 64 * kibibyte)
            controller.enqueue(new Uint8Array(64 * kibibyte));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(await count()).toEqual(before);
    // Exactly at the cap is fine.
    expect(
      (await upload(acme, 'edge.bin', Buffer.alloc(maxUploadBytes, 2), 'application/octet-stream')).status,
    ).toBe(201);
  });

  it('stores the same bytes once per tenant; deleting a file keeps its history and the bytes others still name', async () => {
    const body = `dedupe-${Date.now()}\n`;
    const first = (await (await upload(acme, 'a.txt', body, 'text/plain')).json()) as FileView;
    const second = (await (await upload(acme, 'b.txt', body, 'text/plain')).json()) as FileView;
    expect(first.id).not.toBe(second.id);
    const blobCount = async () => {
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from blobs where tenant = 'acme' and sha256 = decode(${sha256(body)}, 'hex')
      `.execute(stack.database.db);
      return rows[0]?.n;
    };
    expect(await blobCount()).toBe(1);

    const removed = await stack.app.request(`/v1/files/${first.id}`, {
      method: 'DELETE',
      headers: { authorization: acme },
    });
    expect(removed.status).toBe(204);
    expect(
      (await stack.app.request(`/v1/files/${first.id}`, { headers: { authorization: acme } })).status,
    ).toBe(404);
    expect(
      await (await stack.app.request(`/v1/files/${second.id}`, { headers: { authorization: acme } })).text(),
    ).toBe(body);
    expect(await blobCount()).toBe(1);
    await stack.app.request(`/v1/files/${second.id}`, { method: 'DELETE', headers: { authorization: acme } });
    expect(await blobCount()).toBe(0);

    const history = await stack.store.readStream(`file-${first.id}`);
    expect(history.map((event) => event.type)).toEqual(['FileUploaded', 'FileDeleted']);
    expect(history[0]?.data).toMatchObject({ sha256: sha256(body), name: 'a.txt', tenant: 'acme' });
    expect(history[1]?.metadata).toMatchObject({ actor: 'alice', tenant: 'acme' });
  });

  it('lists every artifact hash from the event log alone, and verify catches bytes changed at rest', async () => {
    const { id, job } = await run({
      command: ['sh', '-c', 'echo one > /out/1.txt; echo two > /out/2.txt'],
      outputs: ['/out/*.txt'],
    });
    const fromLog = (await stack.store.readStream(`job-${id}`))
      .filter((event) => event.type === 'ArtifactStored')
      .map((event) => event.data as { path: string; sha256: string; size: number });
    expect(fromLog.map(({ path, sha256: hash, size }) => [path, hash, size]).sort()).toEqual([
      ['/out/1.txt', sha256('one\n'), 4],
      ['/out/2.txt', sha256('two\n'), 4],
    ]);
    expect(fromLog.map((artifact) => artifact.sha256).sort()).toEqual(
      job.artifacts.map((artifact) => artifact.sha256).sort(),
    );

    const blobs = createPostgresBlobStore(stack.database.db);
    const output = () => {
      const chunks: string[] = [];
      return { out: { write: (chunk: string) => chunks.push(chunk) }, text: () => chunks.join('') };
    };
    const intact = output();
    expect(await runVerify({ db: stack.database.db, blobs }, { json: true, out: intact.out })).toBe(0);
    expect(JSON.parse(intact.text())).toMatchObject({ ok: true, files: { ok: true, problems: [] } });

    // Bytes changed at rest: verify names the file whose content no longer matches the log.
    const target = job.artifacts.find((artifact) => artifact.path === '/out/2.txt') as ArtifactView;
    await sql`update blobs set content = ${Buffer.from('TWO\n')} where sha256 = decode(${target.sha256}, 'hex')`.execute(
      stack.database.db,
    );
    const tampered = output();
    expect(await runVerify({ db: stack.database.db, blobs }, { json: true, out: tampered.out })).toBe(1);
    expect(JSON.parse(tampered.text())).toMatchObject({
      ok: false,
      files: {
        ok: false,
        problems: [{ fileId: target.fileId, tenant: 'acme', problem: 'content-mismatch' }],
      },
    });
    // And the API refuses to serve the altered bytes rather than pass them off as the artifact.
    const served = await stack.app.request(target.links.content, { headers: { authorization: acme } });
    expect(served.status).toBe(500);
    expect(await served.json()).toMatchObject({ code: 'file-corrupted' });
  });
});
