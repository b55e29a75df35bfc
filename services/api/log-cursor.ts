import type { LogPosition, RecordedEvent } from '../../events/event-store.ts';

/**
 * An opaque cursor into the log's commit-safe order: `<transaction id>-<position>`. Plain positions
 * cannot serve as cursors, since an event may commit after one with a higher position.
 */
export const toCursor = (event: Pick<RecordedEvent, 'transactionId' | 'globalPosition'>): string =>
  `${event.transactionId}-${event.globalPosition}`;

/** Parses a cursor; `undefined` for anything malformed. */
export function parseCursor(cursor: string): LogPosition | undefined {
  const match = /^(\d{1,20})-(\d{1,19})$/.exec(cursor);
  if (!match?.[1] || !match[2]) return undefined;
  const globalPosition = Number(match[2]);
  // Past either bound the query's ::xid8 or ::bigint cast would fail (a 500): not a cursor we issued.
  if (BigInt(match[1]) > 0xffff_ffff_ffff_ffffn) return undefined;
  return Number.isSafeInteger(globalPosition) ? { transactionId: match[1], globalPosition } : undefined;
}
