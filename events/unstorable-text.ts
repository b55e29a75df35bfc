/** Where a value holds text Postgres cannot store, and why. */
export interface UnstorableText {
  /** A JSON Pointer into the value (`/env/NAME`); an object key is named by its own pointer. */
  readonly pointer: string;
  readonly detail: string;
}

const escapePointer = (segment: string) => segment.replaceAll('~', '~0').replaceAll('/', '~1');

/** Why `text` cannot be stored (jsonb and text refuse NUL; jsonb refuses a lone UTF-16 surrogate). */
export function unstorableTextReason(text: string): string | undefined {
  if (text.includes('\u0000')) return 'must not contain the NUL character (U+0000)';
  if (!text.isWellFormed()) return 'must not contain a lone UTF-16 surrogate';
  return undefined;
}

/**
 * Every string (and object key) in a JSON-like value that Postgres would refuse, with a pointer to
 * each: found here, they are a client's 400 or a typed refusal instead of a driver error mid-append.
 */
export function findUnstorableText(value: unknown, limit = 16): UnstorableText[] {
  const found: UnstorableText[] = [];
  const visit = (current: unknown, pointer: string) => {
    if (found.length >= limit) return;
    if (typeof current === 'string') {
      const detail = unstorableTextReason(current);
      if (detail) found.push({ pointer, detail });
    } else if (Array.isArray(current)) {
      for (const [index, item] of current.entries()) visit(item, `${pointer}/${index}`);
    } else if (current !== null && typeof current === 'object') {
      for (const [key, item] of Object.entries(current)) {
        const keyPointer = `${pointer}/${escapePointer(key)}`;
        const detail = unstorableTextReason(key);
        if (detail)
          found.push({ pointer: keyPointer, detail: `a key ${detail.replace(/^must/, 'that must')}` });
        visit(item, keyPointer);
      }
    }
  };
  visit(value, '');
  return found;
}
