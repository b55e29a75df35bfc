import { findUnstorableText } from '../../events/unstorable-text.ts';
import { fieldErrors, invalidRequest } from './problem.ts';

type Issue = { path: ReadonlyArray<PropertyKey>; message: string; keys?: readonly string[] };

/**
 * zod failures become one 400 problem listing every field, so a client can fix all at once. Every
 * string of every validated input is also checked for what Postgres cannot store (NUL, a lone
 * surrogate): here, once, every route using the hook refuses them with a pointer to the field.
 */
export const validationHook = (result: {
  success: boolean;
  data?: unknown;
  error?: { issues: readonly Issue[] };
}) => {
  const unstorable = findUnstorableText(result.data).map(({ pointer, detail }) => ({
    pointer: pointer === '' ? '/' : pointer,
    detail,
  }));
  const invalid = !result.success && result.error ? fieldErrors(result.error.issues) : [];
  if ((!result.success && result.error) || unstorable.length > 0) {
    const seen = new Set(unstorable.map((error) => error.pointer));
    throw invalidRequest('one or more fields are invalid', [
      ...unstorable,
      ...invalid.filter((error) => !seen.has(error.pointer)),
    ]);
  }
};
