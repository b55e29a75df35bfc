import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Output } from '../../services/cli/output.ts';
import { createProgressLine } from '../../services/cli/progress-line.ts';
import { testImage } from '../support/test-image.ts';
import { type CliStack, omniBin, runProcess, startCliStack } from './cli-harness.ts';

const recorder = (tty: boolean) => {
  const written: string[] = [];
  const output: Output = { write: (text) => written.push(String(text)), color: false, tty };
  return { output, written };
};

describe('progress lines', () => {
  it('are drawn in place on a terminal and wiped before other text', () => {
    const { output, written } = recorder(true);
    const line = createProgressLine(output);
    line.show('verifying: 10 events');
    line.show('verifying: 20 events');
    line.clear();
    line.clear();
    expect(written).toEqual([
      '\rverifying: 10 events\u001b[K',
      '\rverifying: 20 events\u001b[K',
      '\r\u001b[K',
    ]);
  });

  it('write nothing at all into a pipe or a file', () => {
    const { output, written } = recorder(false);
    const line = createProgressLine(output);
    line.show('verifying: 10 events');
    line.clear();
    expect(written).toEqual([]);
  });
});

// util-linux `script` gives the command a real terminal, as a person's shell does.
describe.skipIf(!existsSync('/usr/bin/script'))('submit --wait at a terminal', () => {
  let cli: CliStack;
  beforeAll(async () => {
    cli = await startCliStack('cli-terminal');
  });
  afterAll(async () => {
    await cli?.stop();
  });

  it('shows a live status line on stderr, then the job output, and exits with the job', async () => {
    const command = `"${process.execPath}" "${omniBin}" submit --wait ${testImage} -- sh -c 'sleep 1.5; echo finished; exit 6'`;
    const run = await runProcess('script', ['-qefc', command, '/dev/null'], {
      env: { ...cli.env, NO_COLOR: '1', TERM: 'xterm' },
      timeoutMs: 60_000,
    });
    expect(run.code).toBe(6);
    const screen = run.stdout;
    // The status line redrawn in place (\r … erase to the end of line) while the job runs.
    // ESC [ K: erase to the end of the line (spelled out, since a regex literal may not hold ESC).
    const erase = `${String.fromCharCode(27)}\\[K`;
    expect(screen).toMatch(new RegExp(`\\r[0-9a-f-]{36} (queued|running)[^\\r\\n]*${erase}`));
    expect(screen).toMatch(/\r[0-9a-f-]{36} running \(attempt 1\)/);
    expect(screen).toContain('finished');
    // At a terminal the end is said too, after the line was wiped.
    expect(screen).toMatch(new RegExp(`\\r${erase}omni: job [0-9a-f-]{36} failed: exit-code \\(exit 6\\)`));
  });
});
