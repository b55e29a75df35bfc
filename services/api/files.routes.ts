import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import { z } from 'zod';
import type { FileCatalog } from '../../files/file-catalog.ts';
import { FileIntegrityError } from '../../files/file-catalog.ts';
import { auditMetadata } from './audit-metadata.ts';
import { type AuthVariables, requireScope } from './bearer-auth.middleware.ts';
import { attachmentDisposition, fileLinks, toFileView } from './file-view.ts';
import { invalidRequest, ProblemError } from './problem.ts';
import { validationHook } from './validation-hook.ts';

export interface FilesRoutesDeps {
  /** Absent: file routes answer 503. */
  readonly files?: FileCatalog;
  /** Largest upload accepted, in bytes. */
  readonly maxUploadBytes: number;
}

type Env = { Variables: AuthVariables & { requestId: string } };

const fileNotFound = () => new ProblemError({ status: 404, code: 'file-not-found', title: 'No such file' });

// A name is shown and offered as a download name, never used as a path.
export const uploadQuerySchema = z.object({
  name: z
    .string()
    .min(1)
    .max(255)
    // Control characters are caught by the refinement: a literal range of them upsets linters and readers alike.
    .regex(/^[^/\\]+$/, 'must not contain slashes')
    .refine((name) => ![...name].some((char) => (char.codePointAt(0) ?? 0) < 0x20 || char === '\u007f'), {
      message: 'must not contain control characters',
    })
    .optional(),
});
const fileIdParamSchema = z.object({ id: z.string() });
export const listFilesQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  before: z.uuid().optional(),
});
const contentTypePattern =
  /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(\s*;[\x20-\x7e]*)?$/;

const tooLarge = (limit: number) =>
  new ProblemError({
    status: 413,
    code: 'file-too-large',
    title: 'The file is too large',
    detail: `uploads are limited to ${limit} bytes`,
  });

/**
 * Reads the request body as it streams in and stops at the cap: an oversized upload is refused
 * after at most `limit + 1` bytes, whatever its Content-Length claimed, and nothing is stored.
 */
async function readCapped(body: ReadableStream<Uint8Array> | null, limit: number): Promise<Buffer> {
  if (!body) return Buffer.alloc(0);
  const reader = body.getReader();
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(limit);
    }
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks, total);
}

/** /v1/files: a tenant's uploads and its jobs' artifacts; another tenant's file is simply not there. */
export function createFilesRoutes(deps: FilesRoutesDeps) {
  const catalog = () => {
    if (!deps.files) {
      throw new ProblemError({
        status: 503,
        code: 'files-disabled',
        title: 'File storage is not configured',
      });
    }
    return deps.files;
  };
  const findFile = async (tenant: string, id: string) => {
    if (!z.uuid().safeParse(id).success) throw fileNotFound();
    const file = await catalog().find(tenant, id);
    if (!file) throw fileNotFound();
    return file;
  };

  return new Hono<Env>()
    .post(
      '/',
      requireScope('files:write'),
      zValidator('query', uploadQuerySchema, validationHook),
      async (c) => {
        const principal = c.get('principal');
        const files = catalog();
        const declared = Number(c.req.header('content-length'));
        // Refused before a byte is read when the client says up front that it is too large.
        if (Number.isFinite(declared) && declared > deps.maxUploadBytes) throw tooLarge(deps.maxUploadBytes);
        const contentType = c.req.header('content-type')?.trim() || 'application/octet-stream';
        if (contentType.length > 255 || !contentTypePattern.test(contentType)) {
          throw invalidRequest('the Content-Type header is not a media type', [
            { pointer: '/headers/content-type', detail: 'must be a media type such as text/csv' },
          ]);
        }
        const content = await readCapped(c.req.raw.body, deps.maxUploadBytes);
        const file = await files.upload(
          {
            tenant: principal.tenant,
            name: c.req.valid('query').name ?? 'upload',
            contentType,
            content,
            createdBy: principal.subject,
          },
          auditMetadata(c, principal),
        );
        c.header('location', fileLinks(file.id).meta);
        return c.json(toFileView(file), 201);
      },
    )
    .get(
      '/',
      requireScope('files:read'),
      zValidator('query', listFilesQuerySchema, validationHook),
      async (c) => {
        const { limit, before } = c.req.valid('query');
        const page = await catalog().list(c.get('principal').tenant, {
          limit,
          ...(before ? { before } : {}),
        });
        const last = page.at(-1);
        return c.json({
          files: page.map(toFileView),
          next: page.length === limit && last ? `/v1/files?limit=${limit}&before=${last.id}` : null,
        });
      },
    )
    .get('/:id/meta', requireScope('files:read'), zValidator('param', fileIdParamSchema), async (c) => {
      return c.json(toFileView(await findFile(c.get('principal').tenant, c.req.valid('param').id)));
    })
    .get('/:id', requireScope('files:read'), zValidator('param', fileIdParamSchema), async (c) => {
      const file = await findFile(c.get('principal').tenant, c.req.valid('param').id);
      let content: Buffer | undefined;
      try {
        content = await catalog().content(file);
      } catch (error) {
        if (!(error instanceof FileIntegrityError)) throw error;
        throw new ProblemError({
          status: 500,
          code: 'file-corrupted',
          title: 'The stored file does not match its recorded hash',
          detail: 'the bytes were changed at rest; they are withheld rather than served',
        });
      }
      if (content === undefined) {
        throw new ProblemError({
          status: 410,
          code: 'file-content-gone',
          title: 'The file is recorded but its bytes are gone',
        });
      }
      return c.body(new Uint8Array(content), 200, {
        'content-type': file.contentType,
        'content-length': String(content.length),
        'content-disposition': attachmentDisposition(file.name),
        // Even if a browser opened it, an upload could run no script and reach nothing.
        'content-security-policy': "sandbox; default-src 'none'",
        etag: `"${file.sha256}"`,
        'repr-digest': `sha-256=:${Buffer.from(file.sha256, 'hex').toString('base64')}:`,
        'cache-control': 'private, max-age=0, must-revalidate',
      });
    })
    .delete('/:id', requireScope('files:write'), zValidator('param', fileIdParamSchema), async (c) => {
      const principal = c.get('principal');
      const file = await findFile(principal.tenant, c.req.valid('param').id);
      await catalog().delete(file, auditMetadata(c, principal));
      return c.body(null, 204);
    });
}
