import { styleText } from 'node:util';
import type { JobEventType } from '../../schemas/job-events.schema.ts';
import { isTerminalJobStatus } from '../../schemas/job-status.schema.ts';

export interface Output {
  write(text: string | Uint8Array): unknown;
  /** Whether colours are wanted (a terminal, and NO_COLOR unset). */
  readonly color: boolean;
  /** A terminal: `\r` progress and live status lines are drawn only there, never into a pipe or file. */
  readonly tty?: boolean;
}

type Style = Parameters<typeof styleText>[0];

/** Colours text for people; plain when the output is not a terminal or colours are off. */
export const paint = (out: Output, style: Style, text: string): string =>
  out.color ? styleText(style, text, { validateStream: false }) : text;

/** The colour of a job status, so a glance tells success from failure; a status yet to end waits in yellow. */
export function statusStyle(status: string): Style {
  if (status === 'succeeded') return 'green';
  if (isTerminalJobStatus(status)) return 'red';
  if (status === 'running') return 'cyan';
  return 'yellow';
}

// The events that end an attempt or start one, coloured as the status they lead to.
const eventStyles: Readonly<Record<string, Style>> = {
  JobSucceeded: 'green',
  JobFailed: 'red',
  JobAttemptAbandoned: 'red',
  JobCancelled: 'red',
  JobExpired: 'red',
  JobStarted: 'cyan',
} satisfies Partial<Record<JobEventType, Style>>;

/** The colour of an event type in a feed; any other event (output, files, secrets) is yellow. */
export const eventStyle = (type: string): Style =>
  (Object.hasOwn(eventStyles, type) && eventStyles[type]) || 'yellow';
