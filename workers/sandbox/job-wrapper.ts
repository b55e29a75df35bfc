import type { ResolvedJobSpec } from '../../schemas/job-spec.schema.ts';
import type { ArchiveFile } from './input-archive.ts';
import type { SandboxInput } from './sandbox.ts';

/** Where the job's stdin waits inside the container until the wrapper opens and unlinks it. */
export const stdinPath = '/tmp/.omni-stdin';

/** Created by the wrapper once the job is over and /out may be read (see output-collector.ts). */
export const collectNowPath = '/tmp/.omni-collect';

/**
 * The shell that runs as the container's PID 1 when a job takes files in or gives files back.
 *
 * In: stdin carries one line (`collect` when /out is to be read back, else empty), then a tar of
 * the input files, then EOF. Files cannot be copied in through the engine: the root is read-only
 * and the archive API does not reach a tmpfs. The job's own stdin travels in the same tar and is
 * unlinked once opened, so the job reads exactly what the client sent.
 *
 * Out: the wrapper hands nothing back itself. It runs as the job's uid, so the job can read its
 * memory and write through its descriptors (/proc/1/mem, /proc/1/fd): under runc a job once read
 * a per-attempt marker there and printed a trailer of its own choosing. Now, once the command
 * exits, the wrapper kills every process it left behind (all run as the job's user; PID 1 is the
 * one process they cannot signal), marks the job as over, and waits: the worker reads /out through
 * an exec as another uid, on a stream of that exec alone, then sends SIGTERM, and the wrapper exits
 * with the job's status. Everything the container itself prints is the job's output, capped.
 * The tmpfs is gone once the container stops, so /out must be read while it runs.
 *
 * Declared input directories (the first argument, space-separated plain paths) are made read-only
 * once unpacked: their files 0444, their directories 0555. The job owns them, so like the 0444 of
 * an input this guards against slips rather than the job itself; no other process writes them.
 *
 * The status lives in a shell variable, never in the environment the job inherits. The trap is
 * set only after the job: before, a SIGTERM the job sent PID 1 would end the wrapper early.
 * Needs `sh`, `tar` and `sleep` in the image (busybox has them).
 */
export const wrapperScript = `omni_seal=$1; shift
IFS= read -r omni_collect || exit 125
if ! tar -x -f - -C /; then
  echo 'omni: the input files could not be unpacked (the image needs sh and tar)' >&2
  exit 125
fi
if [ -n "$omni_seal" ] && ! chmod -R a-w $omni_seal; then
  echo 'omni: the input directories could not be made read-only' >&2
  exit 125
fi
if [ -f ${stdinPath} ]; then exec < ${stdinPath}; rm -f ${stdinPath}; else exec < /dev/null; fi
"$@"
omni_status=$?
[ "$omni_collect" = collect ] || exit "$omni_status"
kill -KILL -1 2>/dev/null
trap 'exit "$omni_status"' TERM
: > ${collectNowPath} || exit "$omni_status"
while :; do sleep 3600 & wait $!; done`;

/**
 * Jobs that exchange files, or declare input directories to seal, run under the wrapper; all
 * others run their argv directly, as before.
 */
export function needsWrapper(spec: ResolvedJobSpec): boolean {
  return (
    (spec.files?.length ?? 0) > 0 ||
    (spec.inputs?.length ?? 0) > 0 ||
    (spec.outputs?.length ?? 0) > 0 ||
    (spec.inputDirectories?.length ?? 0) > 0
  );
}

/** The container's argv under the wrapper: the job's own argv follows untouched, as data. */
export function wrappedCommand(spec: Pick<ResolvedJobSpec, 'command' | 'inputDirectories'>): string[] {
  return ['sh', '-c', wrapperScript, 'omni', (spec.inputDirectories ?? []).join(' '), ...spec.command];
}

/**
 * What a job hands its container as files, on either path: its inline files, its uploaded inputs
 * (read-only to the job: it owns them, so this guards against slips, not against the job itself)
 * and its own stdin, which the wrapper opens and unlinks.
 */
export function jobArchiveFiles(spec: ResolvedJobSpec, inputs: readonly SandboxInput[]): ArchiveFile[] {
  return [
    ...(spec.files ?? []).map((file) => ({
      path: file.path,
      content: Buffer.from(file.content, 'utf8'),
      mode: file.mode ?? 0o644,
    })),
    ...inputs.map((input) => ({ path: input.path, content: input.content, mode: 0o444 })),
    ...(spec.stdin === undefined
      ? []
      : [{ path: stdinPath, content: Buffer.from(spec.stdin, 'utf8'), mode: 0o400 }]),
  ];
}
