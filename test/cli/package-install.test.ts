import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.ts';
import { testImage } from '../support/test-image.ts';
import { type CliStack, runProcess, startCliStack } from './cli-harness.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
let cli: CliStack;
let scratch: string;

beforeAll(async () => {
  cli = await startCliStack('cli-install');
  scratch = await mkdtemp(join(tmpdir(), 'omni-cli-install-'));
});
afterAll(async () => {
  await cli?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('the package, packed and installed', () => {
  it('npm pack, then npm install -g of the tarball: omni runs from another folder, as JavaScript', async () => {
    // A copy of the working tree (tracked and new files, as git sees them), so packing builds
    // console/dist and dist/ there and never under the feet of another test of this checkout.
    const source = join(scratch, 'source');
    const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
      cwd: root,
      encoding: 'utf8',
    })
      .split('\0')
      .filter(Boolean);
    for (const file of files) {
      await mkdir(dirname(join(source, file)), { recursive: true });
      await cp(join(root, file), join(source, file)).catch((error: { code?: string }) => {
        // A file deleted in the working tree but still tracked.
        if (error.code !== 'ENOENT') throw error;
      });
    }
    await symlink(join(root, 'node_modules'), join(source, 'node_modules'));
    // The machine's environment as it is (its CA bundle and proxy settings reach the registry: with
    // NODE_EXTRA_CA_CERTS dropped, npm retried a self-signed chain silently until the test timed
    // out), less what `npm test` sets for its own run: npm_config_prefix and friends would steer
    // the install below.
    const env = {
      ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name))),
      PATH: `${dirname(process.execPath)}:${process.env.PATH}`,
      npm_config_update_notifier: 'false',
    };

    const packed = await runProcess('npm', ['pack', '--pack-destination', scratch], {
      env,
      cwd: source,
      timeoutMs: 240_000,
    });
    expect(packed.code, packed.stderr).toBe(0);
    const tarball = join(scratch, packed.stdout.trim().split('\n').at(-1) ?? '');
    expect(tarball).toMatch(/omni-[\d.]+\.tgz$/);

    const prefix = join(scratch, 'prefix');
    const installed = await runProcess(
      'npm',
      ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball],
      // A global install resolves each dependency's range afresh (npm ignores a shrinkwrap for a
      // local tarball): ~20 s here, the registry's metadata fetched or not.
      { env, cwd: scratch, timeoutMs: 300_000 },
    );
    expect(installed.code, installed.stderr).toBe(0);
    const packageDirectory = join(prefix, 'lib', 'node_modules', 'omni');
    // What runs is the built JavaScript: the package carries no TypeScript to strip.
    expect(await readdir(packageDirectory)).toEqual(expect.arrayContaining(['bin', 'dist', 'package.json']));
    expect(await readdir(packageDirectory)).not.toContain('services');

    const elsewhere = join(scratch, 'elsewhere');
    await mkdir(elsewhere);
    const omni = join(prefix, 'bin', 'omni');
    const asUser = { ...env, OMNI_URL: cli.server.url, OMNI_TOKEN: cli.env.OMNI_TOKEN, NO_COLOR: '1' };
    const help = await runProcess(omni, ['--help'], { env: asUser, cwd: elsewhere });
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: omni <command>[\s\S]*Exit codes:/);

    const submitted = await runProcess(omni, ['submit', '--wait', testImage, '--', 'echo', 'installed'], {
      env: asUser,
      cwd: elsewhere,
    });
    expect(submitted, submitted.stderr).toMatchObject({ code: 0, stdout: 'installed\n' });
    // The list is the read model's, which folds the job's end a moment after submit --wait saw it.
    const installedJob = (jobs: { status: string; command: string }[]) =>
      jobs.some((job) => job.status === 'succeeded' && job.command === 'echo installed');
    const page = await eventually(
      async () => {
        const listed = await runProcess(omni, ['jobs', 'list', '--json'], { env: asUser, cwd: elsewhere });
        expect(listed.code, listed.stderr).toBe(0);
        return JSON.parse(listed.stdout) as { jobs: { status: string; command: string }[] };
      },
      (listed) => installedJob(listed.jobs),
    );
    expect(page.jobs).toEqual(
      expect.arrayContaining([expect.objectContaining({ status: 'succeeded', command: 'echo installed' })]),
    );
  }, 600_000);
});
