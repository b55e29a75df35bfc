import type { KeyObject } from 'node:crypto';
import { appendFile, readFile } from 'node:fs/promises';
import type { Kysely } from 'kysely';
import { type Anchor, anchorSchema } from '../schemas/anchor.schema.ts';
import { digestRange, genesisRoot, snapshotXmin } from './anchor-digest.ts';
import { anchorKeyId, anchorLineHash, signAnchor } from './anchor-signature.ts';
import type { Database } from './tables.ts';

export interface WriteAnchorDeps {
  readonly db: Kysely<Database>;
  /** Ed25519; the database never holds it, so nothing with database access alone can sign. */
  readonly privateKey: KeyObject;
  /** Append-only JSON lines, one anchor a line. Created when missing. */
  readonly file: string;
  readonly now?: () => Date;
}

/** The log does not hold up where an anchor would cover it: signing it would vouch for a break. */
export class AnchorRefusedError extends Error {
  readonly code = 'anchor-refused';
}

export type WriteAnchorResult =
  | { readonly written: true; readonly anchor: Anchor }
  /** Nothing was committed since the last anchor: no line is written. */
  | { readonly written: false; readonly last: Anchor | undefined };

/** The anchor file's last line and its parsed anchor; a malformed last line is an error, never skipped. */
async function readLastAnchor(file: string): Promise<{ line: string; anchor: Anchor } | undefined> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
  const line = text.trimEnd().split('\n').at(-1);
  if (!line) return undefined;
  return { line, anchor: anchorSchema.parse(JSON.parse(line)) };
}

/**
 * Appends the next anchor: the running root over every event committed since the last anchor's
 * cursor, up to the oldest transaction still running (so no event can later commit inside an
 * anchored range), signed and chained to the last line. Refuses to sign over an event whose hash
 * does not recompute. Linear in the events since the last anchor.
 * Run one writer per file: two at once would both chain to the same line.
 */
export async function writeNextAnchor(deps: WriteAnchorDeps): Promise<WriteAnchorResult> {
  const previous = await readLastAnchor(deps.file);
  const below = await snapshotXmin(deps.db);
  const digest = await digestRange(deps.db, {
    after: previous && { transactionId: previous.anchor.transactionId, position: previous.anchor.position },
    belowTransactionId: below,
    previousRoot: previous?.anchor.root ?? genesisRoot,
  });
  if (digest.brokenEvent) {
    const { position, streamId, streamVersion } = digest.brokenEvent;
    throw new AnchorRefusedError(
      `not anchoring: the event at position ${position} (stream ${streamId}, version ${streamVersion}) ` +
        'does not match its stored hash; run omni verify',
    );
  }
  if (!digest.last) return { written: false, last: previous?.anchor };
  const anchor = signAnchor(
    {
      v: 1,
      position: digest.last.position,
      transactionId: digest.last.transactionId,
      count: digest.count,
      total: (previous?.anchor.total ?? 0) + digest.count,
      root: digest.root,
      previous: previous ? anchorLineHash(previous.line) : '',
      time: (deps.now?.() ?? new Date()).toISOString(),
      keyId: anchorKeyId(deps.privateKey),
    },
    deps.privateKey,
  );
  // One write of one line, opened for appending: lines already written are never touched.
  await appendFile(deps.file, `${JSON.stringify(anchor)}\n`, { encoding: 'utf8', flag: 'a' });
  return { written: true, anchor };
}
