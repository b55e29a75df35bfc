import type { KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import { type Anchor, anchorSchema } from '../schemas/anchor.schema.ts';
import { type CommitCursor, digestRange, genesisRoot } from './anchor-digest.ts';
import { anchorKeyId, anchorLineHash, anchorSignatureHolds } from './anchor-signature.ts';
import type { Database } from './tables.ts';

export type AnchorProblem =
  /** The line is not an anchor (not JSON, or fields missing or malformed). */
  | 'unreadable'
  /** Signed by another key than the one given. */
  | 'other-key'
  /** The signature does not hold: the line was forged or edited. */
  | 'bad-signature'
  /** `previous`, `total` or the cursor does not follow the line before: lines were removed, reordered or spliced. */
  | 'broken-link'
  /** The log no longer holds what was anchored: events in the range were changed, added, removed or renumbered. */
  | 'root-mismatch'
  /** An anchored event's fields no longer hash to its stored hash (computed here, not by the database). */
  | 'event-mismatch';

export type AnchorVerification =
  | {
      readonly ok: true;
      readonly anchorsChecked: number;
      /** Events covered by the anchors, from the start of the log to the last anchor's position. */
      readonly eventsCovered: number;
      readonly lastAnchor?: { readonly position: number; readonly time: string };
    }
  | {
      readonly ok: false;
      readonly anchorsChecked: number;
      readonly brokenAnchor: {
        /** 1-based line in the anchor file. */
        readonly line: number;
        readonly position?: number;
        readonly transactionId?: string;
        readonly time?: string;
        readonly problem: AnchorProblem;
        readonly detail: string;
        /** For `event-mismatch`: the event that no longer matches. */
        readonly event?: {
          readonly position: number;
          readonly streamId: string;
          readonly streamVersion: number;
        };
      };
    };

export interface VerifyAnchorsOptions {
  /** The anchor file's text. */
  readonly anchors: string;
  readonly publicKey: KeyObject;
  readonly onProgress?: (anchorsChecked: number) => void;
}

const after = (cursor: CommitCursor, other: CommitCursor) =>
  BigInt(cursor.transactionId) > BigInt(other.transactionId) ||
  (cursor.transactionId === other.transactionId && cursor.position > other.position);

/**
 * Checks an anchor file against the log: every line signed by the given key, chained to the line
 * before, every anchored event's hash recomputed from its fields here (not by the database, whose
 * functions a superuser can replace), and the log, range by range, still hashing to each root. Reports the
 * first anchor that no longer holds. Linear in the anchored events; events after the last anchor
 * are not covered (the chain walk of `verifyChain` still checks them).
 */
export async function verifyAnchors(
  db: Kysely<Database>,
  options: VerifyAnchorsOptions,
): Promise<AnchorVerification> {
  const keyId = anchorKeyId(options.publicKey);
  const lines = options.anchors.split('\n');
  if (lines.at(-1) === '') lines.pop();
  let previous: { line: string; anchor: Anchor } | undefined;
  let checked = 0;
  for (const [index, line] of lines.entries()) {
    const broken = (
      problem: AnchorProblem,
      detail: string,
      anchor?: Anchor,
      event?: { readonly position: number; readonly streamId: string; readonly streamVersion: number },
    ): AnchorVerification => ({
      ok: false,
      anchorsChecked: checked,
      brokenAnchor: {
        line: index + 1,
        ...(anchor
          ? { position: anchor.position, transactionId: anchor.transactionId, time: anchor.time }
          : {}),
        problem,
        detail,
        ...(event ? { event } : {}),
      },
    });
    let anchor: Anchor;
    try {
      anchor = anchorSchema.parse(JSON.parse(line));
    } catch {
      return broken('unreadable', 'not an anchor line');
    }
    if (anchor.keyId !== keyId) {
      return broken('other-key', `signed by key ${anchor.keyId}, not by the given key ${keyId}`, anchor);
    }
    if (!anchorSignatureHolds(anchor, options.publicKey)) {
      return broken('bad-signature', 'the signature does not hold for this line', anchor);
    }
    const expectedPrevious = previous ? anchorLineHash(previous.line) : '';
    const start = previous && {
      transactionId: previous.anchor.transactionId,
      position: previous.anchor.position,
    };
    if (
      anchor.previous !== expectedPrevious ||
      anchor.total !== (previous?.anchor.total ?? 0) + anchor.count ||
      (start && !after(anchor, start))
    ) {
      return broken('broken-link', 'does not follow the line before it', anchor);
    }
    const digest = await digestRange(db, {
      after: start,
      through: { transactionId: anchor.transactionId, position: anchor.position },
      previousRoot: previous?.anchor.root ?? genesisRoot,
    });
    if (digest.brokenEvent) {
      const event = digest.brokenEvent;
      return broken(
        'event-mismatch',
        `the event at position ${event.position} (stream ${event.streamId}, version ${event.streamVersion}) ` +
          'no longer hashes to its stored hash',
        anchor,
        event,
      );
    }
    if (digest.root !== anchor.root || digest.count !== anchor.count) {
      return broken(
        'root-mismatch',
        `the log up to position ${anchor.position} no longer hashes to the anchored root ` +
          `(${digest.count} events in the range, ${anchor.count} anchored)`,
        anchor,
      );
    }
    checked += 1;
    previous = { line, anchor };
    options.onProgress?.(checked);
  }
  return {
    ok: true,
    anchorsChecked: checked,
    eventsCovered: previous?.anchor.total ?? 0,
    ...(previous ? { lastAnchor: { position: previous.anchor.position, time: previous.anchor.time } } : {}),
  };
}
