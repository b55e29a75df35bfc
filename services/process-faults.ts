import type { Logger } from 'pino';
import { isDatabaseUnavailable } from '../events/database-errors.ts';
import { createFaultLog } from './logger.ts';

/** A lost connection of ioredis, whose errors carry no code. */
const isRedisConnectionLoss = (error: unknown) =>
  error instanceof Error &&
  (error.message === 'Connection is closed.' || error.name === 'MaxRetriesPerRequestError');

/**
 * Process-wide last resort for errors nobody awaited. A dropped Postgres or Redis connection is a
 * normal event: it is logged (throttled, JSON) and the process goes on, because every loop retries
 * on its own. Anything else is a bug: logged as JSON and the process exits 1, as Node would.
 */
export function installProcessFaultHandlers(logger: Logger, exit: (code: number) => void = process.exit) {
  const report = createFaultLog(logger)(
    'process',
    'an infrastructure fault escaped its handler; the role keeps running and retries',
  );
  const handle = (kind: 'unhandledRejection' | 'uncaughtException') => (error: unknown) => {
    if (isDatabaseUnavailable(error) || isRedisConnectionLoss(error)) {
      report(error);
      return;
    }
    logger.fatal({ err: error, kind }, `${kind}: a bug, not a fault of Postgres or Redis; exiting`);
    exit(1);
  };
  const onRejection = handle('unhandledRejection');
  const onException = handle('uncaughtException');
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return () => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  };
}
