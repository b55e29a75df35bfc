/** A moment as the operator's clock shows it, to the second. */
export const formatTime = (iso: string | null | undefined): string =>
  iso ? new Date(iso).toLocaleString(undefined, { hour12: false }) : '—';

/** A duration as a person reads it: 340 ms, 4.2 s, 3 min 5 s, 2 h 10 min. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} min`;
}

export const between = (from: string | null, to: string | null): number | null =>
  from && to ? Date.parse(to) - Date.parse(from) : null;

/** Why an attempt failed, in words (the API's reason codes are for machines). */
export function failureInWords(reason: string | null, exitCode: number | null, timeoutMs?: number): string {
  switch (reason) {
    case null:
      return '';
    case 'exit-code':
      return `The command exited with code ${exitCode ?? '?'}.`;
    case 'timeout':
      return `The command ran past its timeout${timeoutMs ? ` of ${formatDuration(timeoutMs)}` : ''} and was killed.`;
    case 'oom':
      return 'The command ran out of memory and was killed.';
    case 'output-limit':
      return 'The command wrote more output than allowed and was killed.';
    case 'sandbox-error':
      return 'The sandbox could not run the command (image or engine problem).';
    default:
      return `Failed: ${reason}.`;
  }
}

export const formatBytes = (bytes: number | undefined): string => {
  if (bytes === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`;
};

/** argv as a shell would need it typed, for reading only (it is shown as text, never run). */
export const formatCommand = (argv: readonly string[]): string =>
  argv.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`)).join(' ');
