import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import { z } from 'zod';
import type { FileCatalog } from '../../files/file-catalog.ts';
import { FileIntegrityError } from '../../files/file-catalog.ts';
import { auditMetadata } from './audit-metadata.ts';
import { type AuthVariables, requireScope } from './bearer-auth.middleware.ts';
import { attachmentDisposition, fileLinks, toFileView } from './file-view.ts';
import { invalidRequest, ProblemError } from './problem.ts';
import { readUploadBody } from './upload-body.ts';
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
/** The name a multipart part gave its file, if it is one a name may be; else the default. */
function uploadName(filename: string | undefined): string {
  if (filename === undefined || filename === '') return 'upload';
  const checked = uploadQuerySchema.shape.name.safeParse(filename);
  if (!checked.success || checked.data === undefined) {
    throw invalidRequest("the file part's filename is not a name a file may have", [
      { pointer: '/body/file/filename', detail: checked.error?.issues[0]?.message ?? 'invalid name' },
    ]);
  }
  return checked.data;
}
const fileIdParamSchema = z.object({ id: z.string() });
export const listFilesQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  before: z.uuid().optional(),
});
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
        const upload = await readUploadBody(c.req.raw, deps.maxUploadBytes);
        const { name } = c.req.valid('query');
        const filename = name ?? uploadName(upload.filename);
        const file = await files.upload(
          {
            tenant: principal.tenant,
            name: filename,
            contentType: upload.contentType,
            // Streamed through to the blob store: never held whole, refused at the cap mid-way.
            content: upload.chunks,
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
