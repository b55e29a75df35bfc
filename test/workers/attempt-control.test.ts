import { describe, expect, it } from 'vitest';
import { createAttemptControl } from '../../workers/lifecycle/attempt-control.ts';

describe('attempt control', () => {
  it('stops the runs of one job or of all, and once all were stopped, a run begun later is stopped at once', () => {
    const control = createAttemptControl();
    const first = control.begin('job-a', 1);
    const second = control.begin('job-b', 1);
    expect(control.stop('job-a', 'cancelled')).toBe(true);
    expect(first.signal.aborted).toBe(true);
    expect(first.stoppedBecause()).toBe('cancelled');
    expect(second.signal.aborted).toBe(false);

    control.stopAll('shutdown');
    expect(second.stoppedBecause()).toBe('shutdown');
    // An attempt whose start was being recorded as the grace ran out: it must not run on.
    const late = control.begin('job-c', 1);
    expect(late.signal.aborted).toBe(true);
    expect(late.stoppedBecause()).toBe('shutdown');
  });

  it('forgets a run once it ended, so stopping it again is a no-op', () => {
    const control = createAttemptControl();
    const run = control.begin('job-a', 1);
    run.end();
    expect(control.runningJobIds()).toEqual([]);
    expect(control.stop('job-a', 'cancelled')).toBe(false);
    expect(run.stoppedBecause()).toBeUndefined();
  });
});
