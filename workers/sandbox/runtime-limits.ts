/**
 * How a job's process limit is enforced on each OCI runtime, so `limits.pids` means the same
 * number of the job's processes whatever the operator runs.
 *
 * runc and crun run the job's processes as host processes: the container's pids cgroup counts
 * exactly them. gVisor (runsc) runs them inside its own kernel, and the host pids cgroup counts
 * the sandbox's host threads instead: 44 for an idle container, about eight per sleeping process
 * and up to 25 per process while a fork bomb churns (measured here), so a cgroup of 64 killed the
 * sandbox before the job's tenth process. Under runsc the job's limit is therefore RLIMIT_NPROC,
 * which gVisor's kernel counts over the sandbox's own processes only (under runc it would count
 * every process of the job's uid on the host, across containers, so it is not used there), and the
 * host cgroup keeps a ceiling on the sandbox's threads that a held fork bomb stays well under.
 */
export interface ProcessLimits {
  /** The container's pids cgroup. */
  readonly pidsLimit: number;
  /** RLIMIT_NPROC for the job's processes, where the runtime counts them per sandbox. */
  readonly nproc?: number;
}

/** Host threads allowed per process the job may have under gVisor (a fork bomb peaked near 27). */
const gvisorThreadsPerProcess = 64;
/** The least host-thread ceiling under gVisor: its own threads before the job starts any. */
const gvisorThreadFloor = 1024;

/** Whether a runtime name is gVisor's (registered as `runsc`, or a name with runsc in it). */
export const isGvisor = (runtime: string | undefined) =>
  runtime !== undefined && /runsc|gvisor/i.test(runtime);

export function processLimits(pids: number, runtime: string | undefined): ProcessLimits {
  if (!isGvisor(runtime)) return { pidsLimit: pids };
  return { pidsLimit: Math.max(gvisorThreadFloor, pids * gvisorThreadsPerProcess), nproc: pids };
}
