import { Readable } from 'node:stream';
import busboy from 'busboy';
import { invalidRequest, ProblemError } from './problem.ts';

/** What an upload request carries, read as it streams in. */
export interface UploadBody {
  readonly contentType: string;
  /** The name a multipart part gave its file (its last path segment); raw bodies have none. */
  readonly filename: string | undefined;
  /**
   * The file's bytes as they arrive, never more than the cap: past it the iteration throws 413,
   * and a malformed envelope throws 400 only once the bytes before it were read, so a consumer
   * must store nothing for good before the iteration has ended.
   */
  readonly chunks: AsyncIterable<Buffer>;
}

/** Bytes a multipart envelope may add to the file it carries (boundaries, part headers). */
const envelopeAllowance = 64 * 1024;

const contentTypePattern =
  /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(\s*;[\x20-\x7e]*)?$/;

export const tooLarge = (limit: number) =>
  new ProblemError({
    status: 413,
    code: 'file-too-large',
    title: 'The file is too large',
    detail: `uploads are limited to ${limit} bytes`,
  });

const badMultipart = (detail: string) =>
  new ProblemError({
    status: 400,
    code: 'invalid-multipart',
    title: 'The multipart upload is malformed',
    detail,
  });

/** Whether a media type names a multipart body, by its type alone (`multipart/form-data; boundary=…`). */
const mediaTypeOf = (contentType: string) => contentType.split(';')[0]?.trim().toLowerCase() ?? '';

/**
 * Reads an upload: raw bytes with their Content-Type, or `multipart/form-data` with exactly one
 * file part (what `curl -F file=@x` and browser forms send), whose own filename and type are the
 * file's. Either way the bytes stream through capped at `limit`, and an envelope is never stored
 * as if it were the file. Other multipart types are refused with 415.
 */
export function readUploadBody(request: Request, limit: number): Promise<UploadBody> {
  const declared = Number(request.headers.get('content-length'));
  const contentType = request.headers.get('content-type')?.trim() || 'application/octet-stream';
  if (contentType.length > 255 || !contentTypePattern.test(contentType)) {
    throw invalidRequest('the Content-Type header is not a media type', [
      { pointer: '/headers/content-type', detail: 'must be a media type such as text/csv' },
    ]);
  }
  const mediaType = mediaTypeOf(contentType);
  const multipart = mediaType === 'multipart/form-data';
  if (mediaType.startsWith('multipart/') && !multipart) {
    throw new ProblemError({
      status: 415,
      code: 'unsupported-upload-type',
      title: 'This multipart type is not accepted',
      detail:
        'send the file as raw bytes with its own Content-Type, or as multipart/form-data with one file part',
    });
  }
  const bodyLimit = multipart ? limit + envelopeAllowance : limit;
  // Refused before a byte is read when the client says up front that it is too large.
  if (Number.isFinite(declared) && declared > bodyLimit) throw tooLarge(limit);
  const body = cappedBody(request.body, bodyLimit, limit);
  if (!multipart) return Promise.resolve({ contentType, filename: undefined, chunks: body });
  return readMultipartFile(body, contentType, limit);
}

/** The request's bytes, refused with 413 once more than `bodyLimit` arrived. */
async function* cappedBody(
  body: ReadableStream<Uint8Array> | null,
  bodyLimit: number,
  fileLimit: number,
): AsyncGenerator<Buffer> {
  if (!body) return;
  const reader = body.getReader();
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      total += value.byteLength;
      if (total > bodyLimit) throw tooLarge(fileLimit);
      yield Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    }
  } finally {
    // Stops the client's upload when the consumer stopped early (cap, bad envelope, failure).
    await reader.cancel().catch(() => undefined);
  }
}

/** The last segment of a client's file name: some clients send a whole path. */
const lastSegment = (filename: string) => filename.split(/[/\\]/).at(-1) ?? '';

function readMultipartFile(
  body: AsyncIterable<Buffer>,
  contentType: string,
  limit: number,
): Promise<UploadBody> {
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { 'content-type': contentType },
      // One file part and nothing else: a field or a second file is refused, not silently dropped.
      // Each limit is reported as it is reached, so the part count's is the second part's arrival,
      // and the file's is one byte past the cap (reaching the cap exactly is allowed).
      limits: { files: 1, fields: 0, parts: 2, fileSize: limit + 1, headerPairs: 20 },
      defParamCharset: 'utf8',
    });
  } catch (error) {
    return Promise.reject(badMultipart((error as Error).message));
  }
  const source = Readable.from(body);
  // The envelope's fate, known only at its end: a part after the file still refuses the upload.
  let refusal: ProblemError | undefined;
  const refuse = (problem: ProblemError) => {
    refusal ??= problem;
  };
  const ended = new Promise<void>((resolve, reject) => {
    parser.once('close', () => (refusal ? reject(refusal) : resolve()));
    // `on`, not `once`: a broken envelope can make the parser report more than one error (the
    // file's end, then the form's), and a second one with no listener would crash the process.
    parser.on('error', (error: unknown) =>
      reject(error instanceof ProblemError ? error : (refusal ?? badMultipart((error as Error).message))),
    );
    source.on('error', (error) => {
      refuse(error instanceof ProblemError ? error : badMultipart(error.message));
      parser.destroy(refusal);
    });
  });
  ended.catch(() => undefined);
  parser.on('field', (name) =>
    refuse(badMultipart(`a field (${name.slice(0, 64)}) was sent: send only the file part`)),
  );
  parser.on('fieldsLimit', () => refuse(badMultipart('a field was sent: send only the file part')));
  parser.on('partsLimit', () => refuse(badMultipart('more than one part was sent: send only the file part')));
  parser.on('filesLimit', () =>
    refuse(badMultipart('more than one file was sent: one upload stores one file')),
  );
  source.pipe(parser);

  return new Promise<UploadBody>((resolve, reject) => {
    ended.then(() => reject(badMultipart('no file part was sent')), reject);
    parser.once('file', (_field, file, info) => {
      // Its errors reach whoever reads it; one nobody reads (the request was refused first) is
      // already the envelope's, and must not become an uncaught exception.
      file.on('error', () => undefined);
      const filename = info.filename === undefined ? undefined : lastSegment(info.filename);
      const partType = info.mimeType?.trim() || 'application/octet-stream';
      if (partType.length > 255 || !contentTypePattern.test(partType)) {
        file.resume();
        reject(
          invalidRequest("the file part's Content-Type is not a media type", [
            { pointer: '/body/file/content-type', detail: 'must be a media type such as text/csv' },
          ]),
        );
        return;
      }
      let truncated = false;
      file.once('limit', () => {
        truncated = true;
      });
      async function* chunks(): AsyncGenerator<Buffer> {
        try {
          for await (const chunk of file as AsyncIterable<Buffer>) {
            if (truncated) break;
            yield chunk;
          }
        } catch (error) {
          // The envelope ended inside the file ("Unexpected end of file"), or the body was refused.
          throw refusal ?? (error instanceof ProblemError ? error : badMultipart((error as Error).message));
        }
        if (truncated || (file as { truncated?: boolean }).truncated) {
          source.destroy();
          throw tooLarge(limit);
        }
        // The rest of the envelope: a second part, or a broken end, refuses what came before.
        await ended;
      }
      resolve({ contentType: partType, filename, chunks: chunks() });
    });
  });
}
