import type { ResolvedJobSpec } from '../../schemas/job-spec.schema.ts';

/**
 * The shell that runs as the container's PID 1 when a job takes files in or gives files back.
 *
 * In: stdin carries one line (the collection marker, empty when nothing is collected), then a tar
 * of the input files, then EOF. Files cannot be copied in through the engine: the root is read-only
 * and the archive API does not reach a tmpfs. The job's own stdin travels in the same tar and is
 * unlinked once opened, so the job reads exactly what the client sent.
 *
 * Out: after the command exits, every process it left behind is killed (all run as the job's user;
 * PID 1 is the one process they cannot signal), and the shell writes the marker and a tar of /out
 * to stdout, which the worker splits off the job's output. `tar -c` stores symbolic links as links,
 * never their targets, and the worker treats every byte of it as untrusted. The tmpfs is gone once
 * the container stops, so the bytes must leave while it runs.
 *
 * The marker and status live in shell variables, never in the environment the job inherits.
 * Needs `sh` and `tar` in the image (busybox has both).
 */
const wrapperScript = `IFS= read -r omni_marker || exit 125
if ! tar -x -f - -C /; then
  echo 'omni: the input files could not be unpacked (the image needs sh and tar)' >&2
  exit 125
fi
if [ -f /tmp/.omni-stdin ]; then exec < /tmp/.omni-stdin; rm -f /tmp/.omni-stdin; else exec < /dev/null; fi
"$@"
omni_status=$?
[ -n "$omni_marker" ] || exit "$omni_status"
kill -KILL -1 2>/dev/null
printf '%s' "$omni_marker"
cd / && tar -c -f - out 2>/dev/null
exit "$omni_status"`;

/** Where the job's stdin waits inside the container until the wrapper opens and unlinks it. */
export const stdinPath = '/tmp/.omni-stdin';

/** Jobs that exchange files run under the wrapper; all others run their argv directly, as before. */
export function needsWrapper(spec: ResolvedJobSpec): boolean {
  return (spec.files?.length ?? 0) > 0 || (spec.inputs?.length ?? 0) > 0 || (spec.outputs?.length ?? 0) > 0;
}

/** The container's argv under the wrapper: the job's own argv follows untouched, as data. */
export function wrappedCommand(command: readonly string[]): string[] {
  return ['sh', '-c', wrapperScript, 'omni', ...command];
}
