import { readFile } from 'node:fs/promises';
import type { Kysely } from 'kysely';
import { loadAnchorPrivateKey } from '../../events/anchor-signature.ts';
import type { Database } from '../../events/tables.ts';
import { AnchorRefusedError, writeNextAnchor } from '../../events/write-anchor.ts';
import { fileError } from './cli-error.ts';

export interface AnchorDeps {
  readonly db: Kysely<Database>;
}

export interface AnchorOptions {
  /** The anchor file (JSON lines), appended to. */
  readonly file: string;
  /** PEM file of the Ed25519 private key; keep it off the database's hosts. */
  readonly keyFile: string;
  readonly json: boolean;
  readonly out: { write(text: string): unknown };
}

/**
 * `omni anchor`: appends the next signed anchor of the log to the anchor file; exit 0 also when
 * nothing was new, 1 when an event to anchor does not match its hash (nothing is signed).
 */
export async function runAnchor(deps: AnchorDeps, options: AnchorOptions): Promise<number> {
  const privateKey = await readFile(options.keyFile)
    .then(loadAnchorPrivateKey)
    .catch((error: unknown) => {
      throw fileError(options.keyFile, error);
    });
  const result = await writeNextAnchor({ db: deps.db, privateKey, file: options.file }).catch(
    (error: unknown) => {
      if (error instanceof AnchorRefusedError) return error;
      throw error;
    },
  );
  if (result instanceof AnchorRefusedError) {
    options.out.write(
      options.json
        ? `${JSON.stringify({ written: false, error: result.code, detail: result.message })}\n`
        : `✗ ${result.message}\n`,
    );
    return 1;
  }
  if (options.json) {
    options.out.write(
      `${JSON.stringify(result.written ? { written: true, anchor: result.anchor } : { written: false, last: result.last ?? null })}\n`,
    );
  } else if (result.written) {
    const { anchor } = result;
    options.out.write(
      `✓ anchored ${anchor.count.toLocaleString('en')} events up to position ${anchor.position} ` +
        `(${anchor.total.toLocaleString('en')} in all) in ${options.file}: root ${anchor.root}\n`,
    );
  } else {
    options.out.write(`nothing committed since the last anchor; ${options.file} unchanged\n`);
  }
  return 0;
}
