import type { Logger } from 'pino';
import { isDatabaseUnavailable } from '../events/database-errors.ts';
import { createFaultLog } from './logger.ts';
import { isRedisUnavailable } from './redis-errors.ts';

export type ProcessFaultKind = 'unhandledRejection' | 'uncaughtException';

/**
 * The last resort for errors nobody awaited. A dropped Postgres or Redis connection is a normal
 * event: it is logged (throttled, JSON) and the process goes on, because every loop retries on its
 * own. Anything else is a bug: logged as JSON and the process exits 1, as Node would.
 */
export function createProcessFaultHandler(logger: Logger, exit: (code: number) => void = process.exit) {
  const report = createFaultLog(logger)(
    'process',
    'an infrastructure fault escaped its handler; the role keeps running and retries',
  );
  return (kind: ProcessFaultKind, error: unknown): void => {
    if (isDatabaseUnavailable(error) || isRedisUnavailable(error)) {
      report(error);
      return;
    }
    logger.fatal({ err: error, kind }, `${kind}: a bug, not a fault of Postgres or Redis; exiting`);
    exit(1);
  };
}

/** Installs the handler for the process's lifetime (a role's entry point); returns the uninstaller. */
export function installProcessFaultHandlers(logger: Logger): () => void {
  const handle = createProcessFaultHandler(logger);
  const onRejection = (error: unknown) => handle('unhandledRejection', error);
  const onException = (error: unknown) => handle('uncaughtException', error);
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return () => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  };
}
