import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { environmentVariables } from '../../schemas/config.schema.ts';
import { consoleAssetsDirectory } from '../../services/api/console.routes.ts';
import { loadConfig } from '../../services/config.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const composeFile = join(root, 'docker-compose.yml');

interface ComposeService {
  readonly image?: string;
  readonly command?: readonly string[];
  readonly restart?: string;
  readonly profiles?: readonly string[];
  readonly deploy?: { readonly replicas?: number };
  readonly depends_on?: Record<string, { readonly condition?: string }>;
  // Compose v2 normalises mounts to objects, v1 to "source:target:mode" strings.
  readonly volumes?: readonly (string | { readonly source?: string; readonly target?: string })[];
  readonly environment?: Record<string, string | null>;
}
interface ComposeProject {
  readonly services: Record<string, ComposeService>;
}

/** `docker compose` (v2 plugin) when present, else Debian's `docker-compose` (v1). */
async function composeCommand(): Promise<readonly string[]> {
  try {
    await run('docker', ['compose', 'version']);
    return ['docker', 'compose'];
  } catch {}
  try {
    await run('docker-compose', ['version']);
    return ['docker-compose'];
  } catch {
    throw new Error(
      'neither `docker compose` nor `docker-compose` is installed (apt-get install docker-compose)',
    );
  }
}

/**
 * The compose file as the tool resolves it (anchors merged, variables interpolated), as JSON. v1
 * only prints YAML; it is a Python program that depends on PyYAML, so that converts it.
 */
async function composeConfig(env: NodeJS.ProcessEnv): Promise<ComposeProject> {
  const [command = 'docker', ...args] = await composeCommand();
  const options = { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, cwd: root };
  if (command === 'docker') {
    const { stdout } = await run(
      command,
      [...args, '-f', composeFile, 'config', '--format', 'json'],
      options,
    );
    return JSON.parse(stdout) as ComposeProject;
  }
  await run(command, ['-f', composeFile, 'config', '-q'], options);
  const { stdout: yaml } = await run(command, ['-f', composeFile, 'config'], options);
  const converter = run('python3', [
    '-c',
    'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)',
  ]);
  converter.child.stdin?.end(yaml);
  return JSON.parse((await converter).stdout) as ComposeProject;
}

const mountsDockerSocket = (service: ComposeService | undefined) =>
  (service?.volumes ?? []).some((volume) =>
    typeof volume === 'string'
      ? volume.split(':')[1] === '/var/run/docker.sock'
      : volume.target === '/var/run/docker.sock',
  );

/** Every source file the product's entry point loads, following relative imports. */
function runtimeSources(entry: string): ReadonlySet<string> {
  const seen = new Set<string>();
  const pending = [entry];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    // A missing file is the type check's finding, not this walk's.
    if (seen.has(file) || !existsSync(file)) continue;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const [, specifier] of source.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+\.ts)'/g))
      if (specifier) pending.push(join(dirname(file), specifier));
  }
  return seen;
}

describe('docker-compose.yml', () => {
  const env = { JWT_SECRET: 'a-deployment-secret-of-at-least-32-characters' };

  it('is accepted by compose and declares every role the product runs as', async () => {
    const { services } = await composeConfig(env);
    expect(Object.keys(services).sort()).toEqual(
      [
        'api',
        'dispatcher',
        'migrate',
        'otel-collector',
        'postgres',
        'projector',
        'redis',
        'webhooks',
        'worker',
      ].sort(),
    );
    for (const role of ['migrate', 'api', 'dispatcher', 'projector', 'webhooks', 'worker']) {
      expect(services[role]?.command, role).toEqual([role]);
      expect(services[role]?.image, role).toBe('omni:latest');
    }
    // The migration runs once, after Postgres is healthy, and every role waits for it to succeed.
    expect(services.migrate?.restart).toBe('no');
    expect(services.migrate?.depends_on?.postgres?.condition).toBe('service_healthy');
    for (const role of ['api', 'dispatcher', 'projector', 'webhooks', 'worker'])
      expect(services[role]?.depends_on?.migrate?.condition, role).toBe('service_completed_successfully');
    for (const role of ['api', 'dispatcher', 'worker'])
      expect(services[role]?.depends_on?.redis?.condition, role).toBe('service_healthy');
    expect(services.api?.deploy?.replicas).toBe(2);
    // Only workers start sandbox containers, so only they get the Docker socket.
    const withSocket = Object.entries(services).filter(([, service]) => mountsDockerSocket(service));
    expect(withSocket.map(([name]) => name)).toEqual(['worker']);
    expect(services['otel-collector']?.profiles).toEqual(['telemetry']);
  });

  it('passes every variable the product reads to every role, defaulting as `npm start` does', async () => {
    // Where the containers find each other, and the socket the worker mounts: the file's own.
    const fixed = ['DATABASE_URL', 'REDIS_URL', 'HOST', 'PORT', 'DOCKER_HOST'];
    const passed = environmentVariables.filter((name) => !fixed.includes(name));
    const marked = Object.fromEntries(passed.map((name) => [name, `set-${name}`]));
    const { services } = await composeConfig(marked);
    for (const role of ['migrate', 'api', 'dispatcher', 'projector', 'webhooks', 'worker']) {
      const environment = services[role]?.environment ?? {};
      const lost = passed.filter((name) => environment[name] !== `set-${name}`);
      expect(lost, `${role} does not receive`).toEqual([]);
    }
    // Nothing set in the shell: each variable arrives empty, which the product reads as unset, so
    // the roles run on the defaults `npm start` has (the addresses aside).
    const unset = (await composeConfig(env)).services.api?.environment ?? {};
    const asRead = { ...unset } as Record<string, string | undefined>;
    for (const name of fixed) delete asRead[name];
    // One default of the file's own: a metrics port, so the collector can scrape every role.
    expect(asRead.METRICS_PORT).toBe('9464');
    expect(loadConfig(asRead)).toEqual(
      loadConfig({ ...env, SANDBOX_IMAGES: 'omni-busybox:latest', METRICS_PORT: '9464' }),
    );
  });

  it("has the collector scrape each role's /metrics: the API's port, every other role's METRICS_PORT", async () => {
    const { services } = await composeConfig(env);
    const collector = services['otel-collector'];
    const mounted = (collector?.volumes ?? [])
      .map((volume) => (typeof volume === 'string' ? volume.split(':')[0] : volume.source))
      .find((source) => source?.endsWith('otel-collector.yaml'));
    expect(mounted).toBeDefined();
    const config = readFileSync(join(root, 'services/telemetry/otel-collector.yaml'), 'utf8');
    const roles = Object.entries(services).filter(([, service]) => service.image === 'omni:latest');
    for (const [name, service] of roles) {
      if (name === 'migrate') continue;
      const port = name === 'api' ? service.environment?.PORT : service.environment?.METRICS_PORT;
      expect(config, name).toContain(`"${name}:${port}"`);
    }
  });

  it('refuses to start without a JWT_SECRET', async () => {
    await expect(composeConfig({})).rejects.toThrow(/JWT_SECRET/);
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };

  it('copies every folder the entry point loads and runs it on Node 24', () => {
    const copied = new Set([...dockerfile.matchAll(/^COPY (\S+) \.\/\1$/gm)].map(([, folder]) => folder));
    const folders = new Set(
      [...runtimeSources(join(root, 'services/main.ts'))].map((file) => relative(root, file).split('/')[0]),
    );
    expect([...folders].filter((folder) => !copied.has(folder))).toEqual([]);
    expect(dockerfile).toMatch(/^FROM node:24\S* AS dependencies$/m);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "services\/main\.ts"\]$/m);
  });

  it('builds the console in a stage of its own and serves it from where the API reads it', () => {
    const stages = dockerfile.split(/^FROM /m).slice(1);
    const consoleStage = stages.find((stage) => /^RUN npm run build:console$/m.test(stage)) ?? '';
    const stageName = /^\S+ AS (\S+)$/m.exec(consoleStage)?.[1];
    expect(stageName).toBeDefined();
    // Installed with devDependencies (Vite, Preact) and without scripts, then built from its sources.
    expect(consoleStage).toMatch(/^RUN npm ci --ignore-scripts$/m);
    expect(consoleStage).toMatch(/^COPY console \.\/console$/m);
    expect(consoleStage.indexOf('npm ci')).toBeLessThan(consoleStage.indexOf('npm run build:console'));
    const runtime = stages.at(-1) ?? '';
    expect(relative(root, consoleAssetsDirectory)).toBe('console/dist');
    expect(runtime).toMatch(new RegExp(`^COPY --from=${stageName} /app/console/dist \\./console/dist$`, 'm'));
  });

  it('installs every package the runtime imports (the image omits devDependencies)', () => {
    const packages = new Set<string>();
    for (const file of runtimeSources(join(root, 'services/main.ts'))) {
      const source = readFileSync(file, 'utf8');
      for (const [, specifier = ''] of source.matchAll(/^import (?!type )[^;]*?from '([^.][^']*)'/gm)) {
        const name = specifier.startsWith('@')
          ? specifier.split('/').slice(0, 2).join('/')
          : specifier.split('/')[0];
        if (name && !specifier.startsWith('node:') && !builtinModules.includes(name)) packages.add(name);
      }
    }
    expect(packages.size).toBeGreaterThan(10);
    expect([...packages].filter((name) => !(name in manifest.dependencies))).toEqual([]);
  });
});
