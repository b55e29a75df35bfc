import { generateKeyPairSync } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliStack, omniBin, runProcess, startCliStack } from './cli-harness.ts';
import { omniBlocks, readmeCommands } from './readme-commands.ts';

const readme = await readFile(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
const blocks = omniBlocks(readme);
const separator = '\u001e';
const id = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

let cli: CliStack;
let directory: string;

beforeAll(async () => {
  cli = await startCliStack('cli-readme');
  directory = await mkdtemp(join(tmpdir(), 'omni-cli-readme-'));
  // The files the README's prose has a reader make first: an input and an anchor key pair.
  await writeFile(join(directory, 'sales.csv'), 'region,total\nnorth,10\nsouth,20\n');
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  await writeFile(join(directory, 'anchor.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  await writeFile(join(directory, 'anchor.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  // `omni` on the PATH, as the alias or an install gives it.
  await mkdir(join(directory, 'bin'));
  await writeFile(
    join(directory, 'bin', 'omni'),
    `#!/bin/sh\nexec "${process.execPath}" "${omniBin}" "$@"\n`,
  );
  await chmod(join(directory, 'bin', 'omni'), 0o755);
});
afterAll(async () => {
  await cli?.stop();
  if (directory) await rm(directory, { recursive: true, force: true });
});

describe("the README's CLI examples", () => {
  it('are there: every block that starts with omni is run', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    expect(blocks.flatMap(readmeCommands).length).toBeGreaterThan(20);
  });

  it.each(blocks.map((block, index) => [index + 1, block] as const))(
    'block %i runs as written: each command exits and prints as its comment says',
    async (_index, block) => {
      const commands = readmeCommands(block);
      // One shell for the block, so variables carry from line to line; after each command a
      // separator and its exit code on stdout split what each printed.
      const script = commands
        .map((command) => `${command.shell}\nprintf '${separator}%s${separator}' "$?"`)
        .join('\n');
      const run = await runProcess('bash', ['-c', script], {
        env: { ...cli.env, PATH: `${join(directory, 'bin')}:${cli.env.PATH}` },
        cwd: directory,
        timeoutMs: 120_000,
      });
      expect(run.stderr).not.toMatch(/omni: failed|\n\s+at /);
      const parts = run.stdout.split(separator);
      commands.forEach((command, index) => {
        const printed = parts[index * 2] ?? '';
        const code = Number(parts[index * 2 + 1]);
        expect(code, `${command.shell}\n${run.stderr}`).toBe(command.exitCode);
        if (command.stdout !== undefined) {
          const pattern = command.stdout
            .split('<id>')
            .map((text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
            .join(id);
          expect(printed, command.shell).toMatch(new RegExp(`^${pattern}\\n$`));
        }
        // A --json command prints JSON, a line each.
        if (/\s--json\b/.test(command.shell) && !command.shell.includes('>'))
          for (const line of printed.trim().split('\n'))
            expect(() => JSON.parse(line), command.shell).not.toThrow();
      });
      expect(parts).toHaveLength(commands.length * 2 + 1);
    },
    180_000,
  );
});
