import type { KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Anchor } from '../schemas/anchor.schema.ts';
import type { Database } from './tables.ts';
import { writeNextAnchor } from './write-anchor.ts';

export interface AnchorTimerOptions {
  readonly db: Kysely<Database>;
  readonly privateKey: KeyObject;
  readonly file: string;
  readonly intervalMs: number;
  /** Only the active instance anchors (two writers of one file would fork its chain of lines). */
  readonly isActive?: () => boolean;
  readonly onAnchor?: (anchor: Anchor) => void;
  /** A failed round (the next one tries again); a refused anchor (a broken event) comes here too. */
  readonly onError: (error: unknown) => void;
}

export interface RunningAnchorTimer {
  /** Waits for a round in progress, then stops. */
  stop(): Promise<void>;
}

/** Appends the next anchor every `intervalMs` (the first one interval after start), one round at a time. */
export function startAnchorTimer(options: AnchorTimerOptions): RunningAnchorTimer {
  let stopped = false;
  let round: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    timer = setTimeout(() => {
      round = (async () => {
        if (options.isActive && !options.isActive()) return;
        const result = await writeNextAnchor({
          db: options.db,
          privateKey: options.privateKey,
          file: options.file,
        });
        if (result.written) options.onAnchor?.(result.anchor);
      })()
        .catch(options.onError)
        .finally(() => {
          if (!stopped) schedule();
        });
    }, options.intervalMs);
    timer.unref();
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await round;
    },
  };
}
