import type { RefusedOutputReason } from '../schemas/job-events.schema.ts';

/**
 * What one attempt may write to its job's stream. Every read of a job folds its whole stream, so
 * a job that leaves 100,000 files in /out (or prints one byte at a time for an hour) must not
 * grow its stream with them: past these caps the rest is summarised, never recorded one by one.
 *
 * Per attempt the stream holds at most: JobStarted, `outputEvents` JobOutput, one ArtifactStored
 * per kept file (the operator's ARTIFACT_MAX_COUNT), `refusedOutputs` ArtifactRefused (the last
 * one a summary when more were refused), the terminal event and a JobRetryScheduled.
 */
export const attemptCaps = {
  /** ArtifactRefused events per attempt, the closing summary included. */
  refusedOutputs: 100,
  /** JobOutput events per attempt; past it the rest of the live output arrives when the attempt ends. */
  outputEvents: 1000,
} as const;

export interface Refusal {
  readonly path: string;
  readonly reason: RefusedOutputReason;
  readonly detail?: string;
}

/** How many refusals of each reason a summary stands for. */
export type RefusalTally = Partial<Record<RefusedOutputReason, number>>;

const count = new Intl.NumberFormat('en-US');
const summaryPattern = /^([\d,]+) more files were not kept \(([^)]*)\)$/;

/** The one refusal that stands for every refusal past the cap: `/out`, too-many, and the count. */
export function refusalSummary(tally: RefusalTally): Refusal {
  const entries = Object.entries(tally).filter(([, n]) => (n ?? 0) > 0) as [RefusedOutputReason, number][];
  const total = entries.reduce((sum, [, n]) => sum + n, 0);
  const reasons = entries.map(([reason, n]) => `${reason}: ${count.format(n)}`).join(', ');
  return {
    path: '/out',
    reason: 'too-many',
    detail: `${count.format(total)} more files were not kept (${reasons})`,
  };
}

/** Adds what one refusal stands for to a tally: a summary counts as every refusal it summarises. */
export function tallyRefusal(tally: RefusalTally, refusal: Refusal): void {
  const summary =
    refusal.path === '/out' && refusal.reason === 'too-many' && refusal.detail !== undefined
      ? summaryPattern.exec(refusal.detail)
      : null;
  if (!summary?.[2]) {
    tally[refusal.reason] = (tally[refusal.reason] ?? 0) + 1;
    return;
  }
  for (const part of summary[2].split(', ')) {
    const [reason, n] = part.split(': ') as [RefusedOutputReason, string | undefined];
    tally[reason] = (tally[reason] ?? 0) + Number((n ?? '0').replaceAll(',', ''));
  }
}

/**
 * At most `attemptCaps.refusedOutputs` refusals: the first ones as they are, then one summary of
 * the rest. Linear; what is within the cap comes back unchanged.
 */
export function capRefusals<Item extends Refusal>(refusals: readonly Item[]): readonly Refusal[] {
  const cap = attemptCaps.refusedOutputs;
  if (refusals.length <= cap) return refusals;
  const tally: RefusalTally = {};
  for (let index = cap - 1; index < refusals.length; index += 1) {
    const refusal = refusals[index];
    if (refusal) tallyRefusal(tally, refusal);
  }
  return [...refusals.slice(0, cap - 1), refusalSummary(tally)];
}
