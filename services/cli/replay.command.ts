import type { Kysely } from 'kysely';
import type { Projection } from '../../events/projections/projection.ts';
import { replayProjection } from '../../events/projections/replay.ts';
import type { Database } from '../../events/tables.ts';
import { jobsProjection } from '../../jobs/jobs.projection.ts';

/** Projections `omni replay` can rebuild. Side-effecting subscribers (the dispatcher) are not here. */
const replayableProjections: Readonly<Record<string, Projection>> = { jobs: jobsProjection };

export interface ReplayDeps {
  readonly db: Kysely<Database>;
}

export interface ReplayCommandOptions {
  readonly projection: string;
  /** One JSON object for scripts instead of a progress line for people. */
  readonly json: boolean;
  readonly out: { write(text: string): unknown };
}

/** `omni replay <projection>`: rebuilds and swaps in a read model; exit code 2 for an unknown name. */
export async function runReplay(deps: ReplayDeps, options: ReplayCommandOptions): Promise<number> {
  const { out } = options;
  const projection = replayableProjections[options.projection];
  if (!projection) {
    const known = Object.keys(replayableProjections).join(', ');
    if (options.json) out.write(`${JSON.stringify({ ok: false, error: 'unknown-projection', known })}\n`);
    else out.write(`unknown projection ${options.projection}; known: ${known}\n`);
    return 2;
  }
  const result = await replayProjection(deps.db, projection, {
    ...(options.json
      ? {}
      : {
          onProgress: ({ events, eventsPerSecond }) =>
            out.write(
              `\rreplaying ${projection.name}: ${events.toLocaleString('en')} events, ${eventsPerSecond.toLocaleString('en')} events/s`,
            ),
        }),
  });
  if (options.json) {
    out.write(`${JSON.stringify({ ok: true, ...result, seconds: Number(result.seconds.toFixed(3)) })}\n`);
  } else {
    out.write(
      `\r✓ ${projection.name} rebuilt from ${result.events.toLocaleString('en')} events in ${result.seconds.toFixed(1)} s ` +
        `(${result.eventsPerSecond.toLocaleString('en')} events/s) and swapped in at position ${result.position.globalPosition}\n`,
    );
  }
  return 0;
}
