import type { InputFile } from '../../schemas/job-spec.schema.ts';

// Linux caps one environment string at 128 KiB (MAX_ARG_STRLEN); chunks stay well below it.
const chunkChars = 96 * 1024;

/**
 * The prelude that writes input files before the job's own command, run by the image's `sh`:
 * each file arrives base64-encoded in environment variables (chunked), is decoded into place, and
 * the variables are unset before `exec` hands over, so the job's environment is its own again.
 * Files cannot be copied in before start: the root is read-only and `/tmp` (a tmpfs) exists only
 * once the container runs. The script is fixed text; paths and contents travel only as data.
 */
const prelude = `set -e
i=0
while [ "$i" -lt "$OMNI_INPUT_COUNT" ]; do
  eval "path=\\$OMNI_INPUT_PATH_$i; chunks=\\$OMNI_INPUT_CHUNKS_$i; mode=\\$OMNI_INPUT_MODE_$i"
  mkdir -p "\${path%/*}"
  : > "$path"
  k=0
  while [ "$k" -lt "$chunks" ]; do
    eval "printf %s \\"\\$OMNI_INPUT_DATA_\${i}_\${k}\\"" | base64 -d >> "$path"
    unset "OMNI_INPUT_DATA_\${i}_\${k}"
    k=$((k+1))
  done
  [ -n "$mode" ] && chmod "$mode" "$path"
  unset "OMNI_INPUT_PATH_$i" "OMNI_INPUT_CHUNKS_$i" "OMNI_INPUT_MODE_$i"
  i=$((i+1))
done
unset OMNI_INPUT_COUNT i k path chunks mode
exec "$@"`;

/** Wraps `command` so `files` exist when it starts; returns the argv and the extra environment. */
export function withInputFiles(
  command: readonly string[],
  files: readonly InputFile[],
): { readonly command: string[]; readonly env: Record<string, string> } {
  const env: Record<string, string> = { OMNI_INPUT_COUNT: String(files.length) };
  files.forEach((file, index) => {
    const encoded = Buffer.from(file.content, 'utf8').toString('base64');
    const chunks = Math.max(1, Math.ceil(encoded.length / chunkChars));
    env[`OMNI_INPUT_PATH_${index}`] = file.path;
    env[`OMNI_INPUT_CHUNKS_${index}`] = String(chunks);
    env[`OMNI_INPUT_MODE_${index}`] = file.mode === undefined ? '' : file.mode.toString(8);
    for (let chunk = 0; chunk < chunks; chunk += 1) {
      env[`OMNI_INPUT_DATA_${index}_${chunk}`] = encoded.slice(chunk * chunkChars, (chunk + 1) * chunkChars);
    }
  });
  return { command: ['sh', '-c', prelude, 'omni-input', ...command], env };
}
