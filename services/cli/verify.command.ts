import { readFile } from 'node:fs/promises';
import type { Kysely } from 'kysely';
import { loadAnchorPublicKey } from '../../events/anchor-signature.ts';
import type { Database } from '../../events/tables.ts';
import { type AnchorVerification, verifyAnchors } from '../../events/verify-anchors.ts';
import { verifyChain } from '../../events/verify-chain.ts';
import type { BlobStore } from '../../files/blob-store.ts';
import { verifyStoredFiles } from '../../files/verify-files.ts';
import { fileError } from './cli-error.ts';
import type { ProgressLine } from './progress-line.ts';

export interface VerifyDeps {
  readonly db: Kysely<Database>;
  /** Given, every stored file is also checked against the hash the log records for it. */
  readonly blobs?: Pick<BlobStore, 'get'>;
}

export interface VerifyOptions {
  /** One JSON object for scripts instead of text for people. */
  readonly json: boolean;
  readonly out: { write(text: string): unknown };
  /** Where progress is drawn (stderr, a terminal only); none: no progress. */
  readonly progress?: ProgressLine;
  /** Also check the log against an anchor file, signed by the key in `publicKeyFile`. */
  readonly anchors?: { readonly file: string; readonly publicKeyFile: string };
}

/** The anchor file and the key it is checked with; either unreadable is a usage error naming it. */
async function readAnchorInputs(files: { readonly file: string; readonly publicKeyFile: string }) {
  const anchors = await readFile(files.file, 'utf8').catch((error: unknown) => {
    throw fileError(files.file, error);
  });
  const publicKey = await readFile(files.publicKeyFile)
    .then(loadAnchorPublicKey)
    .catch((error: unknown) => {
      throw fileError(files.publicKeyFile, error);
    });
  return { anchors, publicKey };
}

/**
 * `omni verify`: walks the hash chain, checks the log against the anchor file when given, then
 * checks stored files against the log; exit code 0 when all hold, 1 at the first broken event, the
 * first anchor that no longer holds, or any file that no longer matches its record.
 */
export async function runVerify(deps: VerifyDeps, options: VerifyOptions): Promise<number> {
  const { out } = options;
  const started = performance.now();
  const { progress } = options;
  const result = await verifyChain(deps.db, {
    // Progress only for people at a terminal; a pipe or a script gets the result alone.
    ...(progress && !options.json
      ? {
          onProgress: (checked: number) => progress.show(`verifying: ${checked.toLocaleString('en')} events`),
        }
      : {}),
  });
  progress?.clear();
  // The chain walk cannot see a tail rewritten together with its stream head; the anchors can.
  const anchors: AnchorVerification | undefined = options.anchors
    ? await verifyAnchors(deps.db, await readAnchorInputs(options.anchors))
    : undefined;
  const files = deps.blobs ? await verifyStoredFiles(deps.db, deps.blobs) : undefined;
  const seconds = (performance.now() - started) / 1000;
  const ok = result.ok && (anchors?.ok ?? true) && (files?.ok ?? true);
  if (options.json) {
    out.write(
      `${JSON.stringify({ ...result, ok, ...(anchors ? { anchors } : {}), ...(files ? { files } : {}), seconds: Number(seconds.toFixed(3)) })}\n`,
    );
    return ok ? 0 : 1;
  }
  if (result.ok) {
    out.write(
      `✓ the chain holds: ${result.eventsChecked.toLocaleString('en')} events checked in ${seconds.toFixed(1)} s\n`,
    );
  } else {
    out.write(
      `✗ the chain breaks at global position ${result.firstBrokenPosition} ` +
        `(stream ${result.streamId}, version ${result.streamVersion}: ${result.problem}); ` +
        `${result.eventsChecked.toLocaleString('en')} events checked\n`,
    );
  }
  if (anchors?.ok) {
    out.write(
      `✓ ${anchors.anchorsChecked.toLocaleString('en')} anchors hold: the log still extends them ` +
        `(${anchors.eventsCovered.toLocaleString('en')} events anchored` +
        `${anchors.lastAnchor ? `, up to position ${anchors.lastAnchor.position} at ${anchors.lastAnchor.time}` : ''})\n`,
    );
  } else if (anchors) {
    const broken = anchors.brokenAnchor;
    out.write(
      `✗ anchor on line ${broken.line}${broken.position === undefined ? '' : ` (position ${broken.position}, ${broken.time})`} ` +
        `no longer holds: ${broken.problem}: ${broken.detail}\n`,
    );
  }
  if (files?.ok) {
    out.write(`✓ ${files.filesChecked.toLocaleString('en')} stored files match the hashes in the log\n`);
  } else if (files) {
    for (const problem of files.problems) {
      out.write(`✗ file ${problem.fileId} (tenant ${problem.tenant}): ${problem.problem}\n`);
    }
  }
  return ok ? 0 : 1;
}
