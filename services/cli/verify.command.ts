import type { Kysely } from 'kysely';
import type { Database } from '../../events/tables.ts';
import { verifyChain } from '../../events/verify-chain.ts';

export interface VerifyDeps {
  readonly db: Kysely<Database>;
}

export interface VerifyOptions {
  /** One JSON object for scripts instead of text for people. */
  readonly json: boolean;
  readonly out: { write(text: string): unknown };
}

/** `omni verify`: walks the hash chain; exit code 0 when intact, 1 at the first broken event. */
export async function runVerify(deps: VerifyDeps, options: VerifyOptions): Promise<number> {
  const { out } = options;
  const started = performance.now();
  const result = await verifyChain(deps.db, {
    // Progress only for people; a script reads one JSON document.
    ...(options.json
      ? {}
      : {
          onProgress: (checked: number) => out.write(`\rverifying: ${checked.toLocaleString('en')} events`),
        }),
  });
  const seconds = (performance.now() - started) / 1000;
  if (options.json) {
    out.write(`${JSON.stringify({ ...result, seconds: Number(seconds.toFixed(3)) })}\n`);
  } else if (result.ok) {
    out.write(
      `\r✓ the chain holds: ${result.eventsChecked.toLocaleString('en')} events checked in ${seconds.toFixed(1)} s\n`,
    );
  } else {
    out.write(
      `\r✗ the chain breaks at global position ${result.firstBrokenPosition} ` +
        `(stream ${result.streamId}, version ${result.streamVersion}: ${result.problem}); ` +
        `${result.eventsChecked.toLocaleString('en')} events checked\n`,
    );
  }
  return result.ok ? 0 : 1;
}
