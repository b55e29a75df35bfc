import { usageError } from './cli-error.ts';

// Parsers of option values. Each refuses what it cannot read with a usage error naming the flag;
// the API still bounds every value it accepts (and answers 400 with a pointer where it does not).

const durationUnits: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** `500ms`, `30s`, `5m`, `1h`, `2d`; a bare number is seconds. */
export function parseDuration(flag: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  const ms = match ? Number(match[1]) * (durationUnits[match[2] ?? 's'] ?? 1000) : Number.NaN;
  if (!Number.isSafeInteger(Math.round(ms)) || ms < 0 || text.length > 32)
    throw usageError(`${flag} ${text}: expected a duration such as 500ms, 30s, 5m or 1h`);
  return Math.round(ms);
}

const sizeUnits: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** `256m`, `1g`, `512k` (binary units, as Docker reads them; `MiB`, `GB` and the like too), or bytes. */
export function parseSize(flag: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?$/i.exec(text.trim());
  const bytes = match ? Number(match[1]) * (sizeUnits[(match[2] ?? '').toLowerCase()] ?? 1) : Number.NaN;
  if (!Number.isSafeInteger(Math.floor(bytes)) || bytes <= 0 || text.length > 32)
    throw usageError(`${flag} ${text}: expected a size such as 256m or 1g`);
  return Math.floor(bytes);
}

/** A whole number within bounds. */
export function parseInteger(flag: string, text: string, min: number, max: number): number {
  const value = /^-?\d{1,16}$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw usageError(`${flag} ${text}: expected a whole number from ${min} to ${max}`);
  return value;
}

/** A number within bounds (fractions allowed). */
export function parseNumber(flag: string, text: string, min: number, max: number): number {
  const value = /^\d{1,16}(\.\d{1,16})?$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isFinite(value) || value < min || value > max)
    throw usageError(`${flag} ${text}: expected a number from ${min} to ${max}`);
  return value;
}

/** `KEY=VALUE` pairs (repeatable flag) as a map; a key given twice is refused. */
export function parsePairs(
  flag: string,
  entries: readonly string[],
  separator = '=',
): Record<string, string> {
  const pairs: Record<string, string> = {};
  for (const entry of entries) {
    const at = entry.indexOf(separator);
    if (at < 1) throw usageError(`${flag} ${entry}: expected KEY${separator}VALUE`);
    const key = entry.slice(0, at);
    if (Object.hasOwn(pairs, key)) throw usageError(`${flag} ${key}: given twice`);
    pairs[key] = entry.slice(at + 1);
  }
  return pairs;
}

/** An instant: ISO 8601 with a zone (`2026-12-03T10:00:00Z`), passed on as the API reads it. */
export function parseInstant(flag: string, text: string): string {
  const hasZone = /(?:Z|[+-]\d{2}:?\d{2})$/i.test(text);
  if (!hasZone || Number.isNaN(Date.parse(text)) || text.length > 40)
    throw usageError(
      `${flag} ${text}: expected an ISO 8601 instant with a zone, such as 2026-12-03T10:00:00Z`,
    );
  return text;
}

/** Collects a repeatable option's values (commander calls it once per occurrence). */
export const collect = (value: string, previous: readonly string[] = []): string[] => [...previous, value];
