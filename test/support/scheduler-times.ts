import { readFileSync } from 'node:fs';

/**
 * This thread's time on a CPU and waiting on a run queue for one, in ms (Linux; zeros elsewhere).
 * The suite shares two cores with other work: a timer or an answer delayed because the process was
 * not scheduled is the machine's doing, while one delayed by work on the event loop shows up as
 * CPU time. Tests that bound how long the event loop is held measure the latter.
 */
export function schedulerTimesMs(): { readonly running: number; readonly waiting: number } {
  try {
    const [running = 0, waiting = 0] = readFileSync('/proc/thread-self/schedstat', 'utf8')
      .split(' ')
      .map(Number);
    return { running: running / 1e6, waiting: waiting / 1e6 };
  } catch {
    return { running: 0, waiting: 0 };
  }
}
