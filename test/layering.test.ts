import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

// The rooms and the direction of their arrows (DESIGN.md): schemas ← events ← {jobs, files,
// secrets} ← {workers, services}. A room imports only the rooms listed for it; `workers` never
// imports `services`, and the event store knows nothing of jobs. The console (the browser's side)
// imports nothing from any of them: it talks to the API over HTTP only, through the typed client
// (client/), which imports nothing of the product: its types are generated from the API's document.

const root = fileURLToPath(new URL('..', import.meta.url));

const allowedImports: Readonly<Record<string, readonly string[]>> = {
  client: [],
  schemas: [],
  events: ['schemas'],
  jobs: ['schemas', 'events'],
  files: ['schemas', 'events'],
  secrets: ['schemas', 'events'],
  // Webhook subscriptions and deliveries: told of jobs' ends, handed the secrets room's cipher.
  webhooks: ['schemas', 'events', 'jobs'],
  // Schedules: an aggregate of their own that submits jobs; the dispatcher fires them.
  schedules: ['schemas', 'events', 'jobs'],
  workers: ['schemas', 'events', 'jobs', 'files', 'secrets', 'webhooks', 'schedules'],
  services: ['schemas', 'events', 'jobs', 'files', 'secrets', 'workers', 'webhooks', 'schedules', 'client'],
  console: ['client'],
};

function sourceFiles(dir: string): string[] {
  // A room's own packages (client/node_modules) are not its code.
  return readdirSync(dir).flatMap((name) => {
    if (name === 'node_modules') return [];
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') || path.endsWith('.tsx') ? [path] : [];
  });
}

/** Every relative module a file names: static imports, re-exports and dynamic imports. */
function importedPaths(file: string, text: string): string[] {
  const specifiers = [
    ...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]/g),
    ...text.matchAll(/\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g),
    ...text.matchAll(/(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g),
  ].map((match) => match[1] as string);
  return specifiers
    .filter((specifier) => specifier.startsWith('.'))
    .map((specifier) => resolve(dirname(file), specifier));
}

const roomOf = (path: string) => relative(root, path).split('/')[0] ?? '';

/** Arrows against the rule, as `from → to` lines. */
function arrowsAgainstTheRule(files: readonly string[], read: (file: string) => string): string[] {
  const wrong: string[] = [];
  for (const file of files) {
    const from = roomOf(file);
    const allowed = allowedImports[from];
    if (!allowed) continue;
    for (const target of importedPaths(file, read(file))) {
      const to = roomOf(target);
      if (to === from || !(to in allowedImports)) continue;
      if (!allowed.includes(to)) wrong.push(`${relative(root, file)} → ${relative(root, target)}`);
    }
  }
  return wrong;
}

it('every import follows schemas ← events ← {jobs, files, secrets} ← {workers, services}', () => {
  const files = Object.keys(allowedImports).flatMap((room) => sourceFiles(join(root, room)));
  expect(files.length).toBeGreaterThan(100);
  expect(arrowsAgainstTheRule(files, (file) => readFileSync(file, 'utf8'))).toEqual([]);
});

it('would catch a worker importing the services folder, or the event store importing the job domain', () => {
  const worker = join(root, 'workers/dispatcher.ts');
  const store = join(root, 'events/event-store.ts');
  const sources: Record<string, string> = {
    [worker]: "import { x } from '../services/roles.ts';\nconst y = await import('../services/main.ts');",
    [store]: "import type { JobState } from '../jobs/job.state.ts';",
  };
  expect(arrowsAgainstTheRule(Object.keys(sources), (file) => sources[file] ?? '')).toEqual([
    'workers/dispatcher.ts → services/roles.ts',
    'workers/dispatcher.ts → services/main.ts',
    'events/event-store.ts → jobs/job.state.ts',
  ]);
});

it('would catch the client importing the product', () => {
  const client = join(root, 'client/index.ts');
  const source = "import type { JobView } from '../schemas/api.schema.ts';";
  expect(arrowsAgainstTheRule([client], () => source)).toEqual(['client/index.ts → schemas/api.schema.ts']);
});

it('would catch the console importing a server folder', () => {
  const page = join(root, 'console/src/pages/job-page.tsx');
  const source =
    "import type { JobView } from '../../../jobs/job-view.ts';\nimport { x } from '../../../schemas/api.schema.ts';";
  expect(arrowsAgainstTheRule([page], () => source)).toEqual([
    'console/src/pages/job-page.tsx → jobs/job-view.ts',
    'console/src/pages/job-page.tsx → schemas/api.schema.ts',
  ]);
});
