import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Docker from 'dockerode';

const execFileAsync = promisify(execFile);
const buildImageScript = fileURLToPath(new URL('./build-test-image.sh', import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Processes whose command line names `dir`, and their children (a shim's `runc init`). */
async function processesMentioning(dir: string): Promise<number[]> {
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
  const found = new Set<number>();
  const parents = new Map<number, number>();
  for (const pid of pids) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(`${dir}/`)) found.add(pid);
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const ppid = Number(/\)\s+\S+\s+(\d+)/.exec(stat)?.[1]);
    if (ppid > 0) parents.set(pid, ppid);
  }
  for (let size = -1; size !== found.size; ) {
    size = found.size;
    for (const [pid, ppid] of parents) if (found.has(ppid)) found.add(pid);
  }
  return [...found];
}

/** Whether a process exists and is not a zombie (state Z in /proc/<pid>/stat). */
async function isLive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && !/\)\s+Z\s/.test(stat);
}

/**
 * A Docker engine a test owns: its own socket, data root, exec root and pidfile. It starts its own
 * managed containerd under the exec root (tested: no clash with the machine's engine), so the test
 * may SIGKILL or SIGSTOP it without touching the shared /var/run/docker.sock.
 */
export interface PrivateDockerd {
  /** `unix://<dir>/docker.sock`, for DOCKER_HOST. */
  readonly host: string;
  readonly docker: Docker;
  /** The dockerd process id right now. */
  pid(): number;
  /** Containers on this engine (all states). */
  containers(): Promise<Docker.ContainerInfo[]>;
  /** SIGKILLs dockerd, waits `downMs`, starts it again; returns the old and new pids. */
  kill9AndRestart(downMs: number): Promise<{ before: number; after: number }>;
  /**
   * SIGSTOPs dockerd for `ms` (it holds its socket open but answers nothing), then SIGCONTs it;
   * returns whether the process was seen stopped (state T) and whether a ping timed out meanwhile.
   */
  stopFor(ms: number): Promise<{ stopped: boolean; pingTimedOut: boolean }>;
  /** Removes every container, stops the engine and its containerd, unmounts and removes the directory. */
  destroy(): Promise<void>;
}

/** Starts a private dockerd under `<root>/docker` and loads the busybox test image into it. */
export async function startPrivateDockerd(root: string): Promise<PrivateDockerd> {
  const dir = join(root, 'docker');
  await mkdir(dir, { recursive: true });
  const socket = join(dir, 'docker.sock');
  const pidfile = join(dir, 'docker.pid');
  const host = `unix://${socket}`;
  const docker = new Docker({ socketPath: socket });
  const log = createWriteStream(join(dir, 'dockerd.log'), { flags: 'a' });
  let child: ChildProcess;

  const exited = (process: ChildProcess) =>
    new Promise<void>((resolve) =>
      process.exitCode !== null || process.signalCode !== null
        ? resolve()
        : process.once('exit', () => resolve()),
    );
  const ping = async (timeoutMs: number) => {
    const probe = new Docker({ socketPath: socket, timeout: timeoutMs });
    await probe.ping();
  };
  const containerdPidfile = join(dir, 'exec', 'containerd', 'containerd.pid');
  const launch = async () => {
    // A SIGKILLed dockerd leaves its pidfile, and a new one refuses to start beside it.
    await rm(pidfile, { force: true });
    // Its managed containerd dies with it, but may linger a moment (or as a zombie nobody reaped);
    // a new dockerd that finds its pid alive waits for it instead of starting its own, and times out.
    const containerdPid = Number((await readFile(containerdPidfile, 'utf8').catch(() => '')).trim());
    if (containerdPid > 0) {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && (await isLive(containerdPid))) await sleep(100);
      await rm(containerdPidfile, { force: true });
    }
    child = spawn(
      'dockerd',
      [
        '--host',
        host,
        '--data-root',
        join(dir, 'data'),
        '--exec-root',
        join(dir, 'exec'),
        '--pidfile',
        pidfile,
        '--bridge=none',
        '--iptables=false',
        '--ip6tables=false',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`private dockerd exited with ${child.exitCode}; see ${join(dir, 'dockerd.log')}`);
      try {
        await ping(1_000);
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`private dockerd did not answer within 30 s (${host})`);
        await sleep(100);
      }
    }
  };

  await launch();
  await execFileAsync('bash', [buildImageScript], {
    env: { ...process.env, DOCKER_HOST: host },
    timeout: 120_000,
  });

  const pid = () => child.pid ?? -1;
  const containers = () => docker.listContainers({ all: true });
  return {
    host,
    docker,
    pid,
    containers,
    async kill9AndRestart(downMs) {
      const before = pid();
      child.kill('SIGKILL');
      await exited(child);
      await sleep(downMs);
      await launch();
      return { before, after: pid() };
    },
    async stopFor(ms) {
      const started = Date.now();
      process.kill(pid(), 'SIGSTOP');
      try {
        // The stop is delivered asynchronously (to every thread of the engine): on a loaded
        // machine the first look at its state can come before it took effect, so look for a while.
        let stopped = false;
        for (let look = 0; look < 50 && !stopped; look += 1) {
          const stat = await readFile(`/proc/${pid()}/stat`, 'utf8');
          // Field 3, after the parenthesised command name.
          stopped = /\)\s+T\s/.test(stat);
          if (!stopped) await sleep(20);
        }
        const pingTimedOut = await ping(1_000).then(
          () => false,
          () => true,
        );
        await sleep(Math.max(0, ms - (Date.now() - started)));
        return { stopped, pingTimedOut };
      } finally {
        process.kill(pid(), 'SIGCONT');
      }
    },
    async destroy() {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(pid(), 'SIGCONT');
        for (const container of await containers().catch(() => [])) {
          await docker
            .getContainer(container.Id)
            .remove({ force: true })
            .catch(() => undefined);
        }
        child.kill('SIGTERM');
        const stoppedInTime = await Promise.race([
          exited(child).then(() => true),
          sleep(20_000).then(() => false),
        ]);
        if (!stoppedInTime) {
          child.kill('SIGKILL');
          await exited(child);
        }
      }
      // Its managed containerd normally dies with it; one left behind (after a SIGKILL) is ours too.
      const containerdPid = Number((await readFile(containerdPidfile, 'utf8').catch(() => '')).trim());
      if (containerdPid > 0) {
        const cmdline = await readFile(`/proc/${containerdPid}/cmdline`, 'utf8').catch(() => '');
        if (cmdline.includes(dir)) process.kill(containerdPid, 'SIGKILL');
      }
      // Shims of runs the engine lost track of (a SIGKILLed dockerd's containerd died before
      // reaping them) outlive it, addressed at our exec root: ours to end, with what they hold.
      for (const leftover of await processesMentioning(dir)) {
        try {
          process.kill(leftover, 'SIGKILL');
        } catch {}
      }
      // dockerd bind-mounts its data root (and overlay layers beneath it): unmount deepest first.
      const mounts = (await readFile('/proc/self/mounts', 'utf8'))
        .split('\n')
        .map((line) => line.split(' ')[1] ?? '')
        .filter((target) => target.startsWith(dir))
        .sort((a, b) => b.length - a.length);
      for (const target of mounts) await execFileAsync('umount', ['-l', target]).catch(() => undefined);
      log.end();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
