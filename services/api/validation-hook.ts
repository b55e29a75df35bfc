import { fieldErrors, invalidRequest } from './problem.ts';

type Issue = { path: ReadonlyArray<PropertyKey>; message: string; keys?: readonly string[] };

/** zod failures become one 400 problem listing every field, so a client can fix all at once. */
export const validationHook = (result: { success: boolean; error?: { issues: readonly Issue[] } }) => {
  if (!result.success && result.error) {
    throw invalidRequest('one or more fields are invalid', fieldErrors(result.error.issues));
  }
};
