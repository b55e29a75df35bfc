import { fieldErrors, ProblemError } from './problem.ts';

type Issue = { path: ReadonlyArray<PropertyKey>; message: string; keys?: readonly string[] };

/** zod failures become one 400 problem listing every field, so a client can fix all at once. */
export const validationHook = (result: { success: boolean; error?: { issues: readonly Issue[] } }) => {
  if (!result.success && result.error) {
    throw new ProblemError({
      status: 400,
      code: 'validation-failed',
      title: 'The request is invalid',
      detail: 'one or more fields are invalid',
      errors: fieldErrors(result.error.issues),
    });
  }
};
