import { setTimeout as delay } from 'node:timers/promises';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import { checkDependencies, type Dependency } from './preflight.ts';

export interface WaitForDependenciesOptions {
  readonly pollMs?: number;
  /** How often the wait is logged while it lasts. */
  readonly logEveryMs?: number;
  /** Gives up waiting (a SIGTERM during the wait). */
  readonly signal?: AbortSignal;
}

/**
 * Resolves true once every server the role needs answers, or false when `signal` aborts first. A
 * role supervised by compose or systemd that starts while Postgres, Redis or the engine is down (a
 * host reboot brings everything up at once) waits here, logging as JSON what it waits for and how
 * to fix it, instead of exiting and being restarted in a loop. `npm start` keeps its one-shot check.
 */
export async function waitForDependencies(
  config: Config,
  needs: readonly Dependency[],
  docker: Docker,
  logger: Logger,
  options: WaitForDependenciesOptions = {},
): Promise<boolean> {
  const pollMs = options.pollMs ?? 1_000;
  const logEveryMs = options.logEveryMs ?? 5_000;
  let loggedAt = Number.NEGATIVE_INFINITY;
  let waited = false;
  while (!options.signal?.aborted) {
    const failures = await checkDependencies(config, new Set(needs), docker);
    if (failures.length === 0) {
      if (waited) logger.info({ dependencies: needs }, 'every server this role needs answers; starting');
      return true;
    }
    waited = true;
    if (Date.now() - loggedAt >= logEveryMs) {
      loggedAt = Date.now();
      for (const failure of failures) {
        logger.warn(
          { dependency: failure.dependency, where: failure.where, reason: failure.reason },
          `waiting for ${failure.dependency} at ${failure.where} before starting: ${failure.hint}`,
        );
      }
    }
    // Ends early (without throwing) when the signal aborts: the loop then returns false.
    await delay(pollMs, undefined, { signal: options.signal }).catch(() => undefined);
  }
  return false;
}
