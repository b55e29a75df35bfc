import type Docker from 'dockerode';
import { defaultFileLimits, type SandboxPolicy } from '../../schemas/config.schema.ts';
import { maxInputBytes } from '../../schemas/job-spec.schema.ts';
import { needsWrapper, wrappedCommand } from './job-wrapper.ts';
import { processLimits } from './runtime-limits.ts';
import type { SandboxRunRequest } from './sandbox.ts';
import { warmCommand } from './warm-wrapper.ts';

/** Labels every sandbox container carries; the reaper and the tests find containers by them. */
export const sandboxLabels = {
  managed: 'omni.managed',
  jobId: 'omni.job-id',
  attempt: 'omni.attempt',
  workerId: 'omni.worker-id',
  /** On a warm pool's containers: started ahead, waiting for one job (their job and attempt labels say `warm`, `0`). */
  warm: 'omni.warm',
} as const;

export interface ContainerOptionsInput {
  /** The image id (sha256:...) resolved by inspecting the allowed reference, so a re-tag mid-run cannot swap it. */
  readonly imageId: string;
  /** Added to the container's labels; cannot override the `omni.*` ownership labels. */
  readonly extraLabels?: Readonly<Record<string, string>>;
}

/** Room in an input directory: all of a job's uploaded inputs and inline files, and their inodes. */
function inputDirectoryBytes(policy: SandboxPolicy): number {
  const mebibyte = 1024 * 1024;
  return (policy.files ?? defaultFileLimits).maxInputBytes + maxInputBytes + mebibyte;
}

/** Open files per process: enough for ordinary programs, small enough to bound kernel memory. */
const nofileLimit = 1024;

/**
 * Docker create options for one sandboxed attempt. Pure: the same input gives the same options.
 *
 * Inputs:  request.spec (already clamped to the operator's maxima), request.labels, policy, imageId.
 * Output:  ContainerCreateOptions with every hardening option on; none of them can be switched off
 *          by the job spec. Throws RangeError on a limit Docker would read as "unlimited".
 */
export function buildContainerOptions(
  request: SandboxRunRequest,
  policy: SandboxPolicy,
  input: ContainerOptionsInput,
): Docker.ContainerCreateOptions {
  const { spec, labels } = request;
  assertPositive('limits.memoryBytes', spec.limits.memoryBytes);
  assertPositive('limits.cpus', spec.limits.cpus);
  assertPositive('limits.pids', spec.limits.pids);
  assertPositive('policy.tmpfsBytes', policy.tmpfsBytes);
  // A job exchanging files runs under the wrapper, which reads its files (and the job's stdin)
  // from stdin; any other job's argv runs exactly as given.
  const wrapped = needsWrapper(spec);
  const hasStdin = wrapped || spec.stdin !== undefined;
  const outputsTmpfsBytes = (policy.files ?? defaultFileLimits).outputsTmpfsBytes;
  const collectsOutputs = (spec.outputs?.length ?? 0) > 0;
  const owner = tmpfsOwner(policy.user);
  const processes = processLimits(spec.limits.pids, policy.runtime);

  return {
    // Run exactly the image that was inspected and allowed, not whatever the tag points at now.
    Image: input.imageId,
    // argv as given, never through a shell, so nothing is re-interpreted; the image ENTRYPOINT applies as in `docker run`.
    Cmd: wrapped ? wrappedCommand(spec) : [...spec.command],
    // Only the variables the job declared; secrets are resolved by the caller, never by the image.
    Env: Object.entries(spec.env).map(([name, value]) => `${name}=${value}`),
    // Non-root uid:gid from operator policy; the job spec cannot choose its user.
    User: policy.user,
    // /tmp unless the job names another: relative paths land somewhere writable by default. The
    // engine makes a missing one (on the read-only root: the job can read there, not write).
    WorkingDir: spec.workingDir ?? '/tmp',
    // A neutral hostname: the default (container id) is harmless, but this leaks nothing about the host.
    Hostname: 'sandbox',
    // No TTY: stdout and stderr stay separate on the multiplexed attach stream.
    Tty: false,
    AttachStdout: true,
    AttachStderr: true,
    // Stdin is wired only when the job supplies it; StdinOnce closes it after our single write + end.
    AttachStdin: hasStdin,
    OpenStdin: hasStdin,
    StdinOnce: hasStdin,
    // Ownership labels let any worker find and reap containers whose worker died; extras first so they cannot spoof them.
    Labels: {
      ...input.extraLabels,
      [sandboxLabels.managed]: 'true',
      [sandboxLabels.jobId]: labels.jobId,
      [sandboxLabels.attempt]: String(labels.attempt),
      [sandboxLabels.workerId]: labels.workerId,
    },
    HostConfig: {
      // No network interface except loopback: untrusted code cannot reach the host, the LAN or the internet.
      NetworkMode: 'none',
      // The image cannot be modified, so nothing persists or plants binaries outside /tmp.
      ReadonlyRootfs: true,
      // /tmp is the only writable path: size-capped in RAM (counted against the memory limit), nosuid
      // and nodev. Exec is asked for outright (Docker mounts tmpfs noexec otherwise) and on purpose: an
      // image with a shell or interpreter already runs arbitrary code, so noexec would add no isolation
      // and would break compile-and-run jobs and executable input files.
      // /out, only for jobs that declare outputs, is the same kind of capped tmpfs but noexec: it is
      // for results, read back by the wrapper before the container stops.
      // Both belong to the job's user: the runtime copies the mode of a directory the image already
      // has onto the tmpfs mounted over it (mode=1777 gives way to an image's 0755 /tmp, which only
      // root could then write), but never its owner, so the job can write them whatever the image.
      Tmpfs: {
        '/tmp': `rw,exec,nosuid,nodev,size=${policy.tmpfsBytes},mode=1777${owner}`,
        ...(collectsOutputs
          ? { '/out': `rw,noexec,nosuid,nodev,size=${outputsTmpfsBytes},mode=1777${owner}` }
          : {}),
        // Declared input directories: each a tmpfs the wrapper fills and then makes read-only,
        // sized for every input the job may bring (uploads and inline files) and no more.
        ...Object.fromEntries(
          (spec.inputDirectories ?? []).map((directory) => [
            directory,
            `rw,exec,nosuid,nodev,size=${inputDirectoryBytes(policy)},mode=0755${owner}`,
          ]),
        ),
      },
      // No binds, volumes or mounts of any kind: the host filesystem (and the Docker socket) stay out of reach.
      Binds: [],
      Mounts: [],
      // No /dev/shm and no shared IPC namespace: one less writable, uncapped mount.
      IpcMode: 'none',
      // Drop every capability: the job needs none to compute and write to stdout.
      CapDrop: ['ALL'],
      // setuid binaries cannot regain privileges; Docker's default seccomp profile stays on (not 'unconfined').
      SecurityOpt: ['no-new-privileges'],
      Privileged: false,
      // Memory equal to memory+swap: the job cannot swap its way past the limit, and the kernel OOM-kills it instead.
      Memory: spec.limits.memoryBytes,
      MemorySwap: spec.limits.memoryBytes,
      // CPU quota in billionths of a CPU; a busy loop cannot starve other jobs on the worker.
      NanoCpus: Math.round(spec.limits.cpus * 1e9),
      // A fork bomb hits this limit instead of the host's process table (runtime-limits.ts says
      // how it is kept on each runtime, so the job's number means the same under gVisor).
      PidsLimit: processes.pidsLimit,
      Ulimits: [
        ...(processes.nproc === undefined
          ? []
          : [{ Name: 'nproc', Soft: processes.nproc, Hard: processes.nproc }]),
        // Bounds file descriptors per process (kernel memory, epoll abuse).
        { Name: 'nofile', Soft: nofileLimit, Hard: nofileLimit },
        // No single file may exceed the tmpfs; writes past it fail with EFBIG/SIGXFSZ.
        { Name: 'fsize', Soft: policy.tmpfsBytes, Hard: policy.tmpfsBytes },
        // No core dumps: they would write job memory (and its secrets) somewhere.
        { Name: 'core', Soft: 0, Hard: 0 },
      ],
      // A real PID 1 (docker-init) reaps zombies and relays our kill, so shells and fork bombs die cleanly.
      // Under the wrapper the wrapper's shell is PID 1 instead: it reaps too (it waits on any child),
      // the job cannot signal it, and it must outlive the job to hand /out back.
      Init: !wrapped,
      // No json-file log: output is read from the attach stream and capped there, never stored uncapped on the host disk.
      LogConfig: { Type: 'none', Config: {} },
      // Removed explicitly in a finally after the exit state is inspected; AutoRemove would race the OOM check.
      AutoRemove: false,
      // Optional stronger isolation (gVisor's runsc) chosen by the operator, never by the job.
      ...(policy.runtime ? { Runtime: policy.runtime } : {}),
    },
  };
}

/** What a warm container is made for: everything about it that cannot change once it runs. */
export interface WarmProfile {
  readonly imageId: string;
  /** Whether it has an /out to collect: a tmpfs cannot be mounted into a running container. */
  readonly collects: boolean;
}

/**
 * Create options for a warm pool's container: the cold path's options for a job of this profile
 * (same image, user, runtime, tmpfs sizes, network, hardening), with the policy's default limits
 * (`docker update` sets the job's own before it is handed in), the warm wrapper as PID 1, stdin
 * open for the one job, and no environment of any job in Config.Env.
 */
export function buildWarmContainerOptions(
  profile: WarmProfile,
  policy: SandboxPolicy,
  input: { readonly workerId: string; readonly extraLabels?: Readonly<Record<string, string>> },
): Docker.ContainerCreateOptions {
  const cold = buildContainerOptions(
    {
      spec: {
        image: profile.imageId,
        command: ['true'],
        env: {},
        timeoutMs: policy.defaults.timeoutMs,
        limits: {
          memoryBytes: policy.defaults.memoryBytes,
          cpus: policy.defaults.cpus,
          pids: policy.defaults.pids,
        },
        ...(profile.collects ? { outputs: ['*'] } : {}),
      },
      labels: { jobId: 'warm', attempt: 0, workerId: input.workerId },
    },
    policy,
    { imageId: profile.imageId, ...(input.extraLabels ? { extraLabels: input.extraLabels } : {}) },
  );
  return {
    ...cold,
    Cmd: warmCommand(),
    // The job's variables arrive on stdin with it; the image's own still apply, as on the cold path.
    Env: [],
    AttachStdin: true,
    OpenStdin: true,
    StdinOnce: true,
    Labels: { ...cold.Labels, [sandboxLabels.warm]: 'true' },
    // The wrapper is PID 1, as under the file wrapper: it reaps, and outlives the job to hand /out back.
    HostConfig: { ...cold.HostConfig, Init: false },
  };
}

/** `uid=…,gid=…` tmpfs options for a numeric `uid:gid` (the configuration only allows those). */
function tmpfsOwner(user: string): string {
  const match = /^(\d+):(\d+)$/.exec(user);
  return match ? `,uid=${match[1]},gid=${match[2]}` : '';
}

function assertPositive(name: string, value: number): void {
  // Docker reads 0 (and for pids, -1) as "no limit": refuse rather than run an unlimited container.
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive number, got ${value}`);
  }
}
