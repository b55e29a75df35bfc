import { createHash } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../events/tables.ts';
import type { BlobStore } from './blob-store.ts';

export interface FileProblem {
  readonly fileId: string;
  readonly tenant: string;
  /**
   * not-in-log: no event records the file; differs-from-log: its hash is not the one the log holds;
   * content-missing: its bytes are gone; content-mismatch: its bytes no longer hash to the record.
   */
  readonly problem: 'not-in-log' | 'differs-from-log' | 'content-missing' | 'content-mismatch';
}

export interface FileVerification {
  readonly ok: boolean;
  readonly filesChecked: number;
  readonly problems: readonly FileProblem[];
}

interface FileCheckRow {
  readonly id: string;
  readonly tenant: string;
  readonly sha256: string;
  readonly logged: string | null;
}

/**
 * Extends `verify` to the bytes the log only names: every stored file must be recorded by an event
 * (FileUploaded, or ArtifactStored on its job's stream) with the same SHA-256, and its bytes must
 * still hash to it. The chain proves the records; this proves the files still match them.
 */
export async function verifyStoredFiles(
  db: Kysely<Database>,
  blobs: Pick<BlobStore, 'get'>,
  options: { readonly batchSize?: number; readonly maxProblems?: number } = {},
): Promise<FileVerification> {
  const batchSize = options.batchSize ?? 500;
  const maxProblems = options.maxProblems ?? 100;
  const problems: FileProblem[] = [];
  let filesChecked = 0;
  let after = '';
  for (;;) {
    // Each lookup goes through the (stream_id, stream_version) index of its own stream.
    const { rows } = await sql<FileCheckRow>`
      select f.id, f.tenant, encode(f.sha256, 'hex') as sha256,
             coalesce(
               (select e.data->>'sha256' from events e
                 where e.stream_id = 'file-' || f.id and e.type = 'FileUploaded' limit 1),
               (select e.data->>'sha256' from events e
                 where f.job_id is not null and e.stream_id = 'job-' || f.job_id::text
                   and e.type = 'ArtifactStored' and e.data->>'fileId' = f.id limit 1)
             ) as logged
      from files f
      where f.id > ${after}
      order by f.id
      limit ${batchSize}
    `.execute(db);
    for (const row of rows) {
      filesChecked += 1;
      const problem = await checkFile(row, blobs);
      if (problem && problems.length < maxProblems)
        problems.push({ fileId: row.id, tenant: row.tenant, problem });
    }
    const last = rows.at(-1);
    if (!last || rows.length < batchSize) break;
    after = last.id;
  }
  return { ok: problems.length === 0, filesChecked, problems };
}

async function checkFile(
  row: FileCheckRow,
  blobs: Pick<BlobStore, 'get'>,
): Promise<FileProblem['problem'] | undefined> {
  if (row.logged === null) return 'not-in-log';
  if (row.logged !== row.sha256) return 'differs-from-log';
  const content = await blobs.get({ tenant: row.tenant, sha256: row.sha256 });
  if (content === undefined) return 'content-missing';
  if (createHash('sha256').update(content).digest('hex') !== row.sha256) return 'content-mismatch';
  return undefined;
}
