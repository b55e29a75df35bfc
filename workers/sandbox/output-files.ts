import { setImmediate as nextTurn } from 'node:timers/promises';
import { extract, type Header } from 'tar-stream';
import { attemptCaps, type RefusalTally, refusalSummary } from '../../jobs/attempt-caps.ts';
import type { RefusedOutputReason } from '../../schemas/job-events.schema.ts';

/** A declared output read from /out, within the caps. */
export interface CollectedFile {
  readonly path: string;
  readonly content: Buffer;
}

export interface RefusedFile {
  readonly path: string;
  readonly reason: RefusedOutputReason;
  readonly detail?: string;
}

export interface CollectedOutputs {
  readonly files: readonly CollectedFile[];
  readonly refused: readonly RefusedFile[];
}

export interface OutputCaps {
  readonly maxBytes: number;
  readonly maxCount: number;
}

/** Refusals listed one by one; every one after them is counted into a single summary. */
const listedRefusals = attemptCaps.refusedOutputs - 1;

/** Entries read between two yields to the event loop: tar-stream parses on microtasks alone. */
const entriesPerTurn = 128;

/** `*` matches within one path segment; everything else literally. */
function outputMatcher(patterns: readonly string[]): (path: string) => boolean {
  const expressions = patterns.map(
    (pattern) =>
      new RegExp(
        `^${pattern
          .split('*')
          .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
          .join('[^/]*')}$`,
      ),
  );
  return (path) => expressions.some((expression) => expression.test(path));
}

/** A tar entry's name as an absolute path, or undefined when it is not a plain path under /out. */
function entryPath(name: string): string | undefined {
  const trimmed = name.replace(/^\.?\/+/, '').replace(/\/+$/, '');
  const segments = trimmed.split('/');
  if (segments[0] !== 'out') return undefined;
  if (segments.some((segment) => segment === '' || segment === '.' || segment === '..')) return undefined;
  return `/${segments.join('/')}`;
}

const describeLink = (header: Header) => `points to ${String(header.linkname ?? '').slice(0, 200)}`;

/**
 * Reads the tar of /out the wrapper wrote, keeping only regular files that match a declared
 * pattern, within the caps. Links are recorded and never followed; anything else that matches is
 * refused with its reason. The tar came from the sandbox, so nothing in it is trusted: names are
 * re-checked, sizes are the bytes actually read, and a malformed archive ends collection there.
 */
export async function collectOutputs(
  archive: Buffer,
  patterns: readonly string[],
  caps: OutputCaps,
): Promise<CollectedOutputs> {
  const matches = outputMatcher(patterns);
  const files: CollectedFile[] = [];
  const refused: RefusedFile[] = [];
  const seen = new Set<string>();
  // Past the listed ones a refusal is only counted: a /out of 100,000 files costs a counter, not
  // 100,000 records (and as many events).
  const unlisted: RefusalTally = {};
  let unlistedCount = 0;
  const reader = extract();
  const refuse = (path: string, reason: RefusedOutputReason, detail: string) => {
    if (refused.length < listedRefusals) refused.push({ path, reason, detail });
    else {
      unlisted[reason] = (unlisted[reason] ?? 0) + 1;
      unlistedCount += 1;
    }
  };
  let entries = 0;
  try {
    const reading = (async () => {
      for await (const entry of reader) {
        // The next header is parsed only once this entry is consumed, so pausing here paces the parse.
        entries += 1;
        if (entries % entriesPerTurn === 0) await nextTurn();
        const { header } = entry;
        const path = entryPath(header.name);
        const wanted = path !== undefined && !seen.has(path) && matches(path);
        if (path !== undefined) seen.add(path);
        if (!wanted || path === undefined) {
          entry.resume();
          continue;
        }
        if (header.type === 'symlink') refuse(path, 'symlink', describeLink(header));
        else if (header.type === 'link')
          refuse(path, 'not-a-regular-file', `a hard link; ${describeLink(header)}`);
        else if (header.type !== 'file' && header.type !== 'contiguous-file')
          refuse(path, 'not-a-regular-file', `a ${header.type}`);
        else if (header.size > caps.maxBytes)
          refuse(path, 'too-large', `${header.size} bytes; at most ${caps.maxBytes} are kept`);
        else if (files.length >= caps.maxCount)
          refuse(path, 'too-many', `at most ${caps.maxCount} outputs are kept per attempt`);
        else {
          const chunks: Buffer[] = [];
          for await (const chunk of entry) chunks.push(chunk as Buffer);
          files.push({ path, content: Buffer.concat(chunks) });
          continue;
        }
        entry.resume();
      }
    })();
    reader.end(archive);
    await reading;
  } catch (error) {
    refuse('/out', 'unreadable', `the archive of /out is malformed: ${(error as Error).message}`);
  }
  // A pattern without `*` names one file; saying it was absent beats saying nothing.
  for (const pattern of patterns) {
    if (!pattern.includes('*') && !seen.has(pattern)) {
      refuse(pattern, 'missing', 'the job left no such file');
    }
  }
  if (unlistedCount > 0) refused.push(refusalSummary(unlisted));
  return { files, refused };
}
