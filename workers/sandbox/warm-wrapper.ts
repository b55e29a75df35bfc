import type { ResolvedJobSpec } from '../../schemas/job-spec.schema.ts';
import { buildInputArchive } from './input-archive.ts';
import { collectNowPath, jobArchiveFiles, stdinPath } from './job-wrapper.ts';
import type { SandboxInput } from './sandbox.ts';

/** The one byte a warm container prints once its shell waits for a job: it started and has its tools. */
export const warmReadyByte = 'R';

/**
 * The one byte it prints once it has read the first line of its job, before the job runs: the
 * receipt (see warm-receipt.ts). A container that ends without it never had the job.
 */
export const warmReceiptByte = 'A';

/**
 * The shell that runs as PID 1 of a warm container: started ahead of any job, it waits on stdin for
 * exactly one, then behaves as the file wrapper (job-wrapper.ts) does.
 *
 * Before the job: it checks that the image has the tools it needs and prints `R`; an image that
 * lacks them ends the container at once, which is how the pool learns to run it cold.
 *
 * In: a line `collect` (or empty) saying whether /out is to be read back (answered with the receipt
 * byte on stdout, the last thing the wrapper itself prints); a line `files` (or empty)
 * saying whether a tar follows the values; the job's environment (`e N`) and argv (`a N`), each a
 * header line then the value's N lines (the value plus a newline, so its last line always ends),
 * then `.`; then the tar of its input files and stdin, if any; then EOF. The values are read with
 * the shell's own `read` into the positional parameters: data from start to end, never shell text,
 * never a file the job could see, and no program runs with the job's environment but the job. The
 * environment is exported only in the subshell that becomes the job, so the wrapper's own
 * `kill`/`sleep` afterwards keep the image's PATH. SHLVL and PWD, which the shell itself exports,
 * are unset first: the job sees the image's environment and its own, as when cold.
 *
 * The count of environment values lives in `omni_envc`: names starting `omni_` take the cold path
 * (see warmEligible).
 */
export const warmWrapperScript = `command -v tar >/dev/null 2>&1 && command -v sleep >/dev/null 2>&1 || exit 127
printf ${warmReadyByte}
IFS= read -r omni_collect || exit 125
printf ${warmReceiptByte}
IFS= read -r omni_files || exit 125
set --
omni_envc=0
while IFS=' ' read -r omni_kind omni_lines; do
  [ "$omni_kind" = . ] && break
  omni_value=
  omni_newline=
  while [ "$omni_lines" -gt 0 ]; do
    IFS= read -r omni_line || exit 125
    omni_value="$omni_value$omni_newline$omni_line"
    omni_newline='
'
    omni_lines=$((omni_lines - 1))
  done
  set -- "$@" "$omni_value"
  [ "$omni_kind" = e ] && omni_envc=$((omni_envc + 1))
done
[ "$omni_kind" = . ] || exit 125
if [ "$omni_files" = files ] && ! tar -x -f - -C /; then
  echo 'omni: the input files could not be unpacked' >&2
  exit 125
fi
if [ -f ${stdinPath} ]; then exec < ${stdinPath}; rm -f ${stdinPath}; else exec < /dev/null; fi
(
  unset SHLVL PWD
  while [ "$omni_envc" -gt 0 ]; do export "$1"; shift; omni_envc=$((omni_envc - 1)); done
  exec "$@"
)
omni_status=$?
[ "$omni_collect" = collect ] || exit "$omni_status"
kill -KILL -1 2>/dev/null
trap 'exit "$omni_status"' TERM
: > ${collectNowPath} || exit "$omni_status"
while :; do sleep 3600 & wait $!; done`;

/** The warm container's argv: the script alone; the job arrives later, on stdin. */
export function warmCommand(): string[] {
  return ['sh', '-c', warmWrapperScript, 'omni'];
}

/**
 * Whether a job can run in a warm container at all. An environment name the wrapper's own counter
 * uses, or one the shell will not export (read-only in some shells), would change what the job
 * sees; such jobs run cold, exactly as given.
 */
export function warmEligible(spec: ResolvedJobSpec): boolean {
  // A tmpfs cannot be mounted into a running container, nor its working directory changed.
  if ((spec.inputDirectories?.length ?? 0) > 0 || (spec.workingDir ?? '/tmp') !== '/tmp') return false;
  return Object.keys(spec.env).every((name) => !name.startsWith('omni_') && !shellReserved.has(name));
}

const shellReserved = new Set(['PPID', 'UID', 'EUID', 'LINENO', 'OPTIND', 'IFS']);

/** One value as the wrapper reads it: `<kind> <lines>`, then the value and a newline. */
function framedValue(kind: 'e' | 'a', value: string): string {
  const lines = value.split('\n').length;
  return `${kind} ${lines}\n${value}\n`;
}

/**
 * What the warm wrapper reads on stdin: the collect and files lines, the job's environment and
 * argv, then (only when there are any) a tar of its inline files, uploaded inputs (read-only) and
 * stdin.
 */
export async function warmJobStdin(
  spec: ResolvedJobSpec,
  inputs: readonly SandboxInput[],
  collects: boolean,
): Promise<Buffer> {
  const files = jobArchiveFiles(spec, inputs);
  const header = [
    collects ? 'collect\n' : '\n',
    files.length > 0 ? 'files\n' : '\n',
    ...Object.entries(spec.env).map(([name, value]) => framedValue('e', `${name}=${value}`)),
    ...spec.command.map((argument) => framedValue('a', argument)),
    '.\n',
  ].join('');
  // No files: no tar to spawn in the container, which is most of a trivial job's time there.
  const archive = files.length > 0 ? await buildInputArchive(files) : Buffer.alloc(0);
  return Buffer.concat([Buffer.from(header, 'utf8'), archive]);
}
