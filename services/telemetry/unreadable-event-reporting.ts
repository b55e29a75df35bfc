import type { Kysely } from 'kysely';
import type { Database } from '../../events/tables.ts';
import {
  type AlertLogger,
  createUnreadableEventLog,
  type UnreadableEventLog,
} from '../../events/unreadable-events.ts';
import { instruments } from './instruments.ts';

/** The unreadable-event log the roles give their readers: the table, one alert line each, the metric. */
export function createReportingUnreadableEventLog(
  db: Kysely<Database>,
  logger: AlertLogger,
): UnreadableEventLog {
  const { eventsUnreadable } = instruments();
  return createUnreadableEventLog({
    db,
    logger,
    onReported: (reader) => eventsUnreadable.add(1, { reader }),
  });
}
