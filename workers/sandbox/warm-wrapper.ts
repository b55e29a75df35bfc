import type { ResolvedJobSpec } from '../../schemas/job-spec.schema.ts';
import { buildInputArchive } from './input-archive.ts';
import { collectNowPath, stdinPath } from './job-wrapper.ts';
import type { SandboxInput } from './sandbox.ts';

/** Where the job's argv and environment wait, one file per value, until the wrapper has read them. */
export const warmJobDirectory = '/tmp/.omni-job';

/** The one byte a warm container prints once its shell waits for a job: it started and has its tools. */
export const warmReadyByte = 'R';

/**
 * The shell that runs as PID 1 of a warm container: started ahead of any job, it waits on stdin for
 * exactly one, then behaves as the file wrapper (job-wrapper.ts) does.
 *
 * Before the job: it checks that the image has the tools it needs and prints `R`; an image that
 * lacks them ends the container at once, which is how the pool learns to run it cold.
 *
 * In: one line (`collect` when /out is to be read back), then a tar holding the job's argv and
 * environment as one file per value (`env/NNNN` holds `NAME=value`, `argv/NNNN` one argument, each
 * followed by a newline), its input files and its stdin, then EOF. The values are read with the
 * shell's own `read`, line by line, into the positional parameters: data from start to end, never
 * shell text, and no program runs with the job's environment but the job. The environment is
 * exported only in the subshell that becomes the job, so the wrapper's own `kill`/`sleep` afterwards
 * keep the image's PATH. The files are removed before the job starts. SHLVL and PWD, which the shell
 * itself exports, are unset first: the job sees the image's environment and its own, as when cold.
 *
 * The count of environment values lives in `omni_envc`: names starting `omni_` take the cold path
 * (see warmEligible).
 */
export const warmWrapperScript = `command -v tar >/dev/null 2>&1 && command -v sleep >/dev/null 2>&1 || exit 127
printf ${warmReadyByte}
IFS= read -r omni_collect || exit 125
if ! tar -x -f - -C /; then
  echo 'omni: the input files could not be unpacked' >&2
  exit 125
fi
set --
omni_envc=0
for omni_part in env argv; do
  for omni_file in ${warmJobDirectory}/$omni_part/*; do
    [ -f "$omni_file" ] || continue
    omni_value=
    omni_newline=
    while IFS= read -r omni_line; do
      omni_value="$omni_value$omni_newline$omni_line"
      omni_newline='
'
    done < "$omni_file"
    set -- "$@" "$omni_value"
    [ "$omni_part" = env ] && omni_envc=$((omni_envc + 1))
  done
done
rm -rf ${warmJobDirectory}
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
  return Object.keys(spec.env).every((name) => !name.startsWith('omni_') && !shellReserved.has(name));
}

const shellReserved = new Set(['PPID', 'UID', 'EUID', 'LINENO', 'OPTIND', 'IFS']);

/** Each value becomes a file of its own, numbered so the shell's sorted glob keeps their order. */
const numbered = (index: number) => String(index).padStart(4, '0');

/**
 * What the warm wrapper reads on stdin: the collect line, then a tar of the job's argv, environment,
 * inline files, uploaded inputs (read-only) and stdin.
 */
export async function warmJobStdin(
  spec: ResolvedJobSpec,
  inputs: readonly SandboxInput[],
  collects: boolean,
): Promise<Buffer> {
  const value = (text: string, path: string) => ({
    path,
    // The trailing newline lets `read` see the last line of a value that has none of its own.
    content: Buffer.from(`${text}\n`, 'utf8'),
    mode: 0o400,
  });
  const archive = await buildInputArchive([
    ...Object.entries(spec.env).map(([name, text], index) =>
      value(`${name}=${text}`, `${warmJobDirectory}/env/${numbered(index)}`),
    ),
    ...spec.command.map((argument, index) => value(argument, `${warmJobDirectory}/argv/${numbered(index)}`)),
    ...(spec.files ?? []).map((file) => ({
      path: file.path,
      content: Buffer.from(file.content, 'utf8'),
      mode: file.mode ?? 0o644,
    })),
    ...inputs.map((input) => ({ path: input.path, content: input.content, mode: 0o444 })),
    ...(spec.stdin === undefined
      ? []
      : [{ path: stdinPath, content: Buffer.from(spec.stdin, 'utf8'), mode: 0o400 }]),
  ]);
  return Buffer.concat([Buffer.from(collects ? 'collect\n' : '\n'), archive]);
}
