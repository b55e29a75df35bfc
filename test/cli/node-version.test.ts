import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { minimumNode, nodeVersionProblem } from '../../bin/node-version.js';
import { omniBin, runProcess } from './cli-harness.ts';

const manifest = (await import('../../package.json', { with: { type: 'json' } })).default as {
  engines: { node: string };
};

describe('the Node version check that runs before anything else', () => {
  it('accepts 22.18 and newer, refuses older, in one line saying what is needed, found and how to get it', () => {
    for (const fine of ['22.18.0', '22.18.1', '22.20.0', '23.0.0', '24.11.1', 'v24.0.0', '100.0.0'])
      expect(nodeVersionProblem(fine), fine).toBeUndefined();
    for (const old of ['22.17.9', '22.12.0', '20.19.5', '18.20.8', '0.10.48', 'v22.17.0']) {
      const problem = nodeVersionProblem(old);
      expect(problem, old).toBe(
        `omni needs Node.js 22.18.0 or newer, found ${old}: install a current LTS (Node 24) from nodejs.org, or with your version manager (nvm install 24, fnm install 24)`,
      );
    }
    // What cannot be read is not waved through.
    expect(nodeVersionProblem('not-a-version')).toMatch(
      /^omni needs Node\.js 22\.18\.0 or newer, found not-a-version/,
    );
  });

  it('states the same minimum as package.json engines', () => {
    expect(manifest.engines.node).toBe(`>=${minimumNode.replace(/\.0$/, '')}`);
  });

  it('the bin runs on this Node', async () => {
    const run = await runProcess(process.execPath, [omniBin, '--help'], { env: { PATH: process.env.PATH } });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: omni <command>/);
  });

  // Debian's own node (20 on bookworm) where it is installed: the real thing an older Node does.
  const systemNode = ['/usr/bin/node', '/usr/local/bin/node'].find((path) => {
    if (!existsSync(path)) return false;
    const version = execFileSync(path, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
    return nodeVersionProblem(version) !== undefined;
  });
  it.skipIf(systemNode === undefined)(
    'the bin on an older Node prints that one line and exits 1',
    async () => {
      const run = await runProcess(systemNode ?? 'node', [omniBin, 'jobs', 'list'], {
        env: { PATH: process.env.PATH },
      });
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(
        /^omni needs Node\.js 22\.18\.0 or newer, found \d+\.\d+\.\d+: install [^\n]+\n$/,
      );
    },
  );
});
