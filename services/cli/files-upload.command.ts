import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { contentTypeFor } from '../../files/content-type.ts';
import type { ApiClient } from './api-client.ts';
import type { Output } from './output.ts';

export interface FilesUploadOptions {
  readonly path: string;
  /** The name it is stored under; default the file's own name. */
  readonly name?: string;
  /** Its media type; default guessed from the name. */
  readonly contentType?: string;
  readonly json: boolean;
}

/** `omni files upload PATH`: stores a local file and prints its id, for a job's `inputs`. */
export async function runFilesUpload(
  client: ApiClient,
  options: FilesUploadOptions,
  out: Output,
): Promise<number> {
  const content = await readFile(options.path);
  const name = options.name ?? basename(options.path);
  const file = await client.upload<{ id: string; size: number; sha256: string }>(
    `/v1/files?name=${encodeURIComponent(name)}`,
    content,
    options.contentType ?? contentTypeFor(name),
  );
  out.write(
    options.json
      ? `${JSON.stringify(file)}\n`
      : `${file.id} ${name} (${file.size} bytes, sha256 ${file.sha256})\n`,
  );
  return 0;
}
