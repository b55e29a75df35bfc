import { z } from 'zod';

/**
 * Every status a job can be in, written once. The job aggregate, the read model, the API's filters
 * and views, the feeds and the CLI derive theirs from here, so adding one starts here and the type
 * checker names each place that must say what the new status means.
 */
export const jobStatusSchema = z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired']);
export type JobStatus = z.infer<typeof jobStatusSchema>;

/**
 * Statuses no worker moves a job out of (only an operator's re-run does): a job's feeds end there
 * and its output is complete.
 */
export const terminalJobStatusSchema = jobStatusSchema.extract([
  'succeeded',
  'failed',
  'cancelled',
  'expired',
]);
export type TerminalJobStatus = z.infer<typeof terminalJobStatusSchema>;

const terminalJobStatuses: ReadonlySet<string> = new Set(terminalJobStatusSchema.options);

export const isTerminalJobStatus = (status: string): status is TerminalJobStatus =>
  terminalJobStatuses.has(status);
