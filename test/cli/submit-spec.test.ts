import { describe, expect, it } from 'vitest';
import { CliError } from '../../services/cli/cli-error.ts';
import { parseDuration, parseSize } from '../../services/cli/flag-values.ts';
import { submitRequest } from '../../services/cli/submit-spec.ts';

const files: Record<string, string> = { 'note.txt': 'a note\n', 'in.txt': 'standard input\n' };
const read = (path: string) => {
  const content = files[path];
  if (content === undefined) throw new Error(`no ${path}`);
  return content;
};
const refusal = (run: () => unknown): string => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(2);
    return (error as CliError).problem.detail ?? '';
  }
  throw new Error('not refused');
};

describe('omni submit: one flag per spec field', () => {
  it('maps every flag onto the body POST /v1/jobs takes, and the key onto its header', () => {
    const request = submitRequest(
      'img:1',
      ['sh', '-c', 'echo'],
      {
        env: ['A=1', 'B=x=y'],
        secret: ['TOKEN=api-token'],
        label: ['team=data'],
        input: ['3d1b0000-0000-4000-8000-000000000000:/tmp/in/a.csv'],
        file: ['note.txt:/tmp/note.txt'],
        output: ['/out/*.txt'],
        inputDir: ['/in', '/workspace'],
        workdir: '/workspace',
        stdin: 'in.txt',
        memory: '1.5g',
        cpus: '0.5',
        pids: '64',
        timeout: '2m',
        priority: '90',
        delay: '1500ms',
        expiresAt: '2026-12-04T00:00:00Z',
        queueTimeout: '1h',
        maxAttempts: '3',
        retryOn: 'timeout,exit-code',
        retryDelay: '2s',
        idempotencyKey: 'nightly-1',
      },
      read,
    );
    expect(request).toEqual({
      body: {
        image: 'img:1',
        command: ['sh', '-c', 'echo'],
        env: { A: '1', B: 'x=y' },
        secrets: { TOKEN: 'api-token' },
        labels: { team: 'data' },
        inputs: [{ file: '3d1b0000-0000-4000-8000-000000000000', path: '/tmp/in/a.csv' }],
        files: [{ path: '/tmp/note.txt', content: 'a note\n' }],
        outputs: ['/out/*.txt'],
        inputDirectories: ['/in', '/workspace'],
        workingDir: '/workspace',
        stdin: 'standard input\n',
        limits: { memoryBytes: 1.5 * 1024 ** 3, cpus: 0.5, pids: 64 },
        retry: { maxAttempts: 3, backoff: { initialMs: 2000 }, on: ['timeout', 'exit-code'] },
        timeoutMs: 120_000,
        priority: 90,
        delayMs: 1500,
        expiresAt: '2026-12-04T00:00:00Z',
        queueTimeoutMs: 3_600_000,
      },
      headers: { 'idempotency-key': 'nightly-1' },
    });
  });

  it('sends only the fields given', () => {
    expect(submitRequest('img', ['true'], {})).toEqual({
      body: { image: 'img', command: ['true'] },
      headers: {},
    });
    expect(submitRequest('img', ['true'], { runAt: '2026-12-03T10:00:00+01:00' }).body.runAt).toBe(
      '2026-12-03T10:00:00+01:00',
    );
    expect(submitRequest('img', ['true'], { timeoutMs: '2500' }).body.timeoutMs).toBe(2500);
  });

  it('refuses what it cannot read with a usage error naming the flag', () => {
    expect(refusal(() => submitRequest('img', [], {}))).toMatch(/^no command/);
    expect(refusal(() => submitRequest('img', ['true'], { env: ['NOVALUE'] }))).toBe(
      '--env NOVALUE: expected KEY=VALUE',
    );
    expect(refusal(() => submitRequest('img', ['true'], { env: ['A=1', 'A=2'] }))).toBe(
      '--env A: given twice',
    );
    expect(
      refusal(() => submitRequest('img', ['true'], { runAt: '2026-12-03T10:00:00Z', delay: '1s' })),
    ).toBe('give --run-at or --delay, not both');
    expect(refusal(() => submitRequest('img', ['true'], { runAt: 'tomorrow' }))).toMatch(
      /^--run-at tomorrow: expected an ISO 8601/,
    );
    expect(refusal(() => submitRequest('img', ['true'], { runAt: '2026-12-03T10:00:00' }))).toMatch(
      /with a zone/,
    );
    expect(refusal(() => submitRequest('img', ['true'], { priority: '101' }))).toBe(
      '--priority 101: expected a whole number from 0 to 100',
    );
    expect(refusal(() => submitRequest('img', ['true'], { input: ['/tmp/x'] }))).toBe(
      '--input /tmp/x: expected FILE-ID:/tmp/PATH',
    );
    expect(refusal(() => submitRequest('img', ['true'], { file: ['note.txt'] }))).toBe(
      '--file note.txt: expected LOCAL-FILE:/tmp/PATH',
    );
  });

  it('reads durations and sizes, and bounds them', () => {
    expect([parseDuration('--t', '250ms'), parseDuration('--t', '30'), parseDuration('--t', '1.5m')]).toEqual(
      [250, 30_000, 90_000],
    );
    expect([
      parseSize('--m', '512k'),
      parseSize('--m', '256MiB'),
      parseSize('--m', '1G'),
      parseSize('--m', '1000'),
    ]).toEqual([512 * 1024, 256 * 1024 ** 2, 1024 ** 3, 1000]);
    for (const bad of ['', '-1s', '5 weeks', '1e3s', '99999999999999999999d', '\u00001s', '1'.repeat(40)])
      expect(refusal(() => parseDuration('--timeout', bad))).toMatch(/^--timeout .*: expected a duration/);
    for (const bad of ['0', 'lots', '1t', '9'.repeat(30), '\ud8001m'])
      expect(refusal(() => parseSize('--memory', bad))).toMatch(/^--memory .*: expected a size/);
  });
});
