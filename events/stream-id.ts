/**
 * Stream ids built from several parts (`secret-<tenant>-<name>`) must name one tuple each: joined
 * as they are, tenant `X` with name `a-b` and tenant `X-a` with name `b` shared a stream. Each part
 * has `%` and `-` percent-encoded, so the only `-` left in an id are the separators and the tuple
 * reads back unambiguously. A part free of both characters is written as it is, so an id made
 * before this encoding existed is still the id of its tuple whenever the tuple had no `-`; an id
 * whose part holds a `-` now carries `%2D`, which no id made before could hold (the product never
 * allowed `%` in tenants or names), so no old id ever names a different tuple.
 */
const encodePart = (part: string): string => part.replace(/[%-]/g, (char) => (char === '%' ? '%25' : '%2D'));

/** The stream id of `category` (a literal without `-`) and `parts`, one id per tuple. */
export function composeStreamId(category: string, ...parts: readonly string[]): string {
  if (category.includes('-') || category.includes('%'))
    throw new Error(`stream category ${category} must not contain - or %`);
  return [category, ...parts.map(encodePart)].join('-');
}
