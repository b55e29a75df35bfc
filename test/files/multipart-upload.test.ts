import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServedApp, serveApp } from '../../services/api/serve.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

// Uploads as browsers and `curl -F` send them: multipart/form-data with one file part. The part's
// bytes, name and type are the file; the envelope (boundaries, part headers) is never stored.
const run = promisify(execFile);
const maxUploadBytes = 64 * 1024;
let stack: TestStack;
let served: ServedApp;
let token: string;
let scratch: string;

beforeAll(async () => {
  stack = await startTestStack('multipart', { withWorkers: false, maxUploadBytes });
  served = await serveApp(stack.app, { port: 0, host: '127.0.0.1' });
  token = await stack.token('alice', { tenant: 'acme' });
  scratch = await mkdtemp(join(tmpdir(), 'omni-multipart-'));
});
afterAll(async () => {
  await served?.close();
  await stack?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');
const csv = 'city,population\nLyon,522250\nNice,348085\n';

async function stored() {
  const { rows } = await sql<{ files: number; blobs: number; events: number }>`
    select (select count(*)::int from files) as files, (select count(*)::int from blobs) as blobs,
           (select count(*)::int from events) as events
  `.execute(stack.database.db);
  return rows[0];
}

function post(body: RequestInit['body'], headers: Record<string, string> = {}, query = '') {
  return stack.app.request(`/v1/files${query}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, ...headers },
    body,
  });
}

/** A hand-written multipart body, for envelopes no well-behaved client would send. */
function envelope(parts: readonly string[], boundary = 'omni-boundary'): { body: string; type: string } {
  return {
    body: `${parts.map((part) => `--${boundary}\r\n${part}\r\n`).join('')}--${boundary}--\r\n`,
    type: `multipart/form-data; boundary=${boundary}`,
  };
}
const filePart = (name: string, content: string, type = 'text/csv') =>
  `Content-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: ${type}\r\n\r\n${content}`;

describe('multipart uploads', () => {
  it('stores the file part of `curl -F file=@x` byte for byte, with its filename and type', async () => {
    const path = join(scratch, 'cities.csv');
    await writeFile(path, csv);
    const { stdout } = await run('curl', [
      '-sS',
      '-H',
      `authorization: Bearer ${token}`,
      '-F',
      `file=@${path};type=text/csv`,
      `${served.url}/v1/files`,
    ]);
    const file = JSON.parse(stdout) as {
      id: string;
      name: string;
      size: number;
      sha256: string;
      contentType: string;
    };
    expect(file).toMatchObject({
      name: 'cities.csv',
      size: Buffer.byteLength(csv),
      sha256: sha256(csv),
      contentType: 'text/csv',
    });
    const download = await stack.app.request(`/v1/files/${file.id}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(await download.text()).toBe(csv);
  });

  it('takes a FormData body too; the query name wins over the part filename; a path keeps its last segment', async () => {
    const form = new FormData();
    form.append('upload', new Blob([csv], { type: 'text/csv' }), 'report.csv');
    const named = await post(form, {}, '?name=renamed.csv');
    expect(named.status).toBe(201);
    expect(await named.json()).toMatchObject({ name: 'renamed.csv', size: Buffer.byteLength(csv) });

    const { body, type } = envelope([filePart('C:\\Users\\al\\data.csv', csv)]);
    const pathed = await post(body, { 'content-type': type });
    expect(pathed.status).toBe(201);
    expect(await pathed.json()).toMatchObject({ name: 'data.csv', sha256: sha256(csv) });
  });

  it('still stores raw bytes as they are, multipart-looking or not, when sent with their own type', async () => {
    const raw = await post('--not-a-boundary\r\nhello', { 'content-type': 'text/plain' }, '?name=raw.txt');
    expect(raw.status).toBe(201);
    expect(await raw.json()).toMatchObject({ contentType: 'text/plain', size: 23 });
  });

  it.each([
    ['two file parts', envelope([filePart('a.csv', 'a'), filePart('b.csv', 'b')]), 'invalid-multipart'],
    [
      'a field beside the file',
      envelope(['Content-Disposition: form-data; name="note"\r\n\r\nhi', filePart('a.csv', 'a')]),
      'invalid-multipart',
    ],
    [
      'a field after the file',
      envelope([filePart('a.csv', 'a'), 'Content-Disposition: form-data; name="note"\r\n\r\nhi']),
      'invalid-multipart',
    ],
    ['no part at all', envelope([]), 'invalid-multipart'],
    ['no boundary', { body: 'x', type: 'multipart/form-data' }, 'invalid-multipart'],
    [
      'an envelope cut short',
      { body: `--b\r\n${filePart('a.csv', 'abc')}`, type: 'multipart/form-data; boundary=b' },
      'invalid-multipart',
    ],
    [
      'a raw control character in a part header',
      envelope([filePart('a\u0001.csv', 'a')]),
      'invalid-multipart',
    ],
    [
      'a filename with an encoded control character',
      envelope([
        `Content-Disposition: form-data; name="file"; filename*=UTF-8''a%01.csv\r\nContent-Type: text/csv\r\n\r\na`,
      ]),
      'validation-failed',
    ],
  ])('refuses %s with 400 and stores nothing', async (_case, { body, type }, code) => {
    const before = await stored();
    const response = await post(body, { 'content-type': type });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await response.json()).toMatchObject({ status: 400, code });
    expect(await stored()).toEqual(before);
  });

  it('refuses a file part over the cap with 413, streamed or declared, and stores nothing', async () => {
    const before = await stored();
    const form = new FormData();
    form.append('file', new Blob([Buffer.alloc(maxUploadBytes + 1, 7)]), 'big.bin');
    const response = await post(form);
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ code: 'file-too-large' });
    // Exactly the cap fits, envelope and all.
    const edge = new FormData();
    edge.append('file', new Blob([Buffer.alloc(maxUploadBytes, 8)]), 'edge.bin');
    const fits = await post(edge);
    expect(fits.status).toBe(201);
    expect(await fits.json()).toMatchObject({ size: maxUploadBytes });
    const after = await stored();
    expect(after?.files).toBe((before?.files ?? 0) + 1);
  });

  it('refuses other multipart types with 415', async () => {
    const response = await post('--b\r\n\r\nx\r\n--b--\r\n', {
      'content-type': 'multipart/mixed; boundary=b',
    });
    expect(response.status).toBe(415);
    expect(await response.json()).toMatchObject({ code: 'unsupported-upload-type' });
  });
});
