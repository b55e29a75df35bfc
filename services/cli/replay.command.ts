import type { Kysely } from 'kysely';
import type { Projection } from '../../events/projections/projection.ts';
import { replayProjection } from '../../events/projections/replay.ts';
import type { Database } from '../../events/tables.ts';
import { jobsProjection } from '../../jobs/jobs.projection.ts';
import { schedulesProjection } from '../../schedules/schedules.projection.ts';
import { usageError } from './cli-error.ts';
import type { ProgressLine } from './progress-line.ts';

/** Projections `omni replay` can rebuild. Side-effecting subscribers (the dispatcher) are not here. */
const replayableProjections: Readonly<Record<string, Projection>> = {
  jobs: jobsProjection,
  schedules: schedulesProjection,
};

export interface ReplayDeps {
  readonly db: Kysely<Database>;
}

export interface ReplayCommandOptions {
  readonly projection: string;
  /** One JSON object for scripts instead of a progress line for people. */
  readonly json: boolean;
  readonly out: { write(text: string): unknown };
  /** Where progress is drawn (stderr, a terminal only); none: no progress. */
  readonly progress?: ProgressLine;
}

/** The projections `omni replay` knows, for its help. */
export const replayableNames = Object.keys(replayableProjections);

/** `omni replay <projection>`: rebuilds and swaps in a read model; an unknown name is a usage error. */
export async function runReplay(deps: ReplayDeps, options: ReplayCommandOptions): Promise<number> {
  const { out, progress } = options;
  const projection = replayableProjections[options.projection];
  if (!projection)
    throw usageError(`unknown projection ${options.projection}; known: ${replayableNames.join(', ')}`);
  const result = await replayProjection(deps.db, projection, {
    // Progress only for people at a terminal; a pipe or a script gets the result alone.
    ...(progress && !options.json
      ? {
          onProgress: ({ events, eventsPerSecond }) =>
            progress.show(
              `replaying ${projection.name}: ${events.toLocaleString('en')} events, ${eventsPerSecond.toLocaleString('en')} events/s`,
            ),
        }
      : {}),
  });
  progress?.clear();
  if (options.json) {
    out.write(`${JSON.stringify({ ok: true, ...result, seconds: Number(result.seconds.toFixed(3)) })}\n`);
  } else {
    out.write(
      `✓ ${projection.name} rebuilt from ${result.events.toLocaleString('en')} events in ${result.seconds.toFixed(1)} s ` +
        `(${result.eventsPerSecond.toLocaleString('en')} events/s) and swapped in at position ${result.position.globalPosition}\n`,
    );
  }
  return 0;
}
