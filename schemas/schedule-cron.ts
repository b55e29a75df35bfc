import { Cron } from 'croner';

/**
 * A cron expression read by croner, the one parser both the API's validation and the firing use:
 * 5 fields (minute precision) or 6 (a leading seconds field), never a year field. croner has no
 * finer unit than the second, so no expression yields more than one slot per second. `paused`: the
 * object only computes dates, it never starts a timer.
 */
export function parseCron(expression: string, timeZone: string): Cron {
  return new Cron(expression, { timezone: timeZone, mode: '5-or-6-parts', paused: true });
}

/** Whether the runtime's Intl knows the IANA time zone (names like `Europe/Berlin`, or `UTC`). */
export function isKnownTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** Why croner refuses the expression, or why it can never fire; undefined when it is usable. */
export function cronProblem(expression: string, timeZone: string): string | undefined {
  try {
    if (parseCron(expression, timeZone).nextRun() === null) return 'the expression never fires';
    return undefined;
  } catch (error) {
    // croner's messages name the field and value ("Invalid value for minute: 61"), not our internals.
    return (error as Error).message.replace(/^CronPattern: /, '');
  }
}
