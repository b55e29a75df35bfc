import type { BatchJob } from './submit-jobs.ts';

/** One job of a JSON Lines text and the line (from 1) it was written on. */
export interface JobLine {
  readonly line: number;
  readonly job: BatchJob;
}

/** A JSON Lines text read as jobs: every line that is JSON, and every line that is not. */
export interface JobLines {
  readonly jobs: readonly JobLine[];
  readonly errors: readonly { readonly line: number; readonly detail: string }[];
}

/**
 * Reads one job spec per line (the body POST /v1/jobs takes, with an optional idempotencyKey);
 * blank lines are skipped. Only the JSON is checked here: the API judges each spec and refuses a
 * bad one with pointers, so the caller sends nothing while `errors` is not empty.
 */
export function readJobLines(text: string): JobLines {
  const jobs: JobLine[] = [];
  const errors: { line: number; detail: string }[] = [];
  text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .forEach((content, at) => {
      if (content.trim() === '') return;
      try {
        jobs.push({ line: at + 1, job: JSON.parse(content) as BatchJob });
      } catch (error) {
        errors.push({ line: at + 1, detail: `not JSON (${(error as Error).message})` });
      }
    });
  return { jobs, errors };
}
