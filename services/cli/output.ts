import { styleText } from 'node:util';

export interface Output {
  write(text: string): unknown;
  /** Whether colours are wanted (a terminal, and NO_COLOR unset). */
  readonly color: boolean;
}

type Style = Parameters<typeof styleText>[0];

/** Colours text for people; plain when the output is not a terminal or colours are off. */
export const paint = (out: Output, style: Style, text: string): string =>
  out.color ? styleText(style, text, { validateStream: false }) : text;

/** The colour of a job status or event type, so a glance tells success from failure. */
export function statusStyle(status: string): Style {
  if (/succeeded|JobSucceeded/.test(status)) return 'green';
  if (/failed|expired|cancelled|abandoned|JobFailed|JobExpired|JobCancelled|JobAttemptAbandoned/.test(status))
    return 'red';
  if (/running|JobStarted/.test(status)) return 'cyan';
  return 'yellow';
}
