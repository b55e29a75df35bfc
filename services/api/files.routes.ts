import { createRoute } from '@hono/zod-openapi';
import { z } from 'zod';
import type { FileCatalog } from '../../files/file-catalog.ts';
import { FileIntegrityError } from '../../files/file-catalog.ts';
import { fileListSchema, fileViewSchema } from '../../schemas/api.schema.ts';
import { auditMetadata } from './audit-metadata.ts';
import type { AuthVariables } from './bearer-auth.middleware.ts';
import { attachmentDisposition, fileLinks, toFileView } from './file-view.ts';
import { exampleFile } from './openapi-examples.ts';
import { jsonResponse, openApiRoutes, problems, scoped } from './openapi-route.ts';
import { invalidRequest, ProblemError } from './problem.ts';
import { readUploadBody } from './upload-body.ts';

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
const fileIdParamSchema = z.object({ id: z.string().meta({ example: exampleFile.id }) });
const listFilesQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  before: z.uuid().optional(),
});

const bytes = z.string().meta({ format: 'binary' });

// The body is read by readUploadBody as it streams (raw bytes, or one file part of a multipart
// form), so these schemas document it and validate nothing.
const uploadFile = createRoute({
  method: 'post',
  path: '/',
  tags: ['files'],
  summary:
    'Upload a file: the raw bytes (Content-Type is kept as its media type), or one file part of a multipart form',
  ...scoped('files:write'),
  request: {
    query: uploadQuerySchema,
    body: {
      required: true,
      description: 'The file’s bytes, streamed; larger than FILES_MAX_UPLOAD_MB is refused with 413',
      content: {
        'multipart/form-data': {
          schema: {
            type: 'object',
            properties: { file: { type: 'string', format: 'binary' } },
            required: ['file'],
          },
        },
        'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
        '*/*': { schema: { type: 'string', format: 'binary' } },
      },
    },
  },
  responses: {
    201: jsonResponse('Stored; Location names its metadata', fileViewSchema, exampleFile),
    ...problems(400, 401, 403, 413, 415, 429, 503),
  },
});

const listFiles = createRoute({
  method: 'get',
  path: '/',
  tags: ['files'],
  summary: 'The tenant’s files and artifacts, newest first',
  ...scoped('files:read'),
  request: { query: listFilesQuerySchema },
  responses: {
    200: jsonResponse('A page of files', fileListSchema, { files: [exampleFile], next: null }),
    ...problems(400, 401, 403, 429, 503),
  },
});

const fileMeta = createRoute({
  method: 'get',
  path: '/{id}/meta',
  tags: ['files'],
  summary: 'A file’s name, size, media type and SHA-256',
  ...scoped('files:read'),
  request: { params: fileIdParamSchema },
  responses: {
    200: jsonResponse('The file', fileViewSchema, exampleFile),
    ...problems(401, 403, 404, 429, 503),
  },
});

const downloadFile = createRoute({
  method: 'get',
  path: '/{id}',
  tags: ['files'],
  summary: 'Download a file: its bytes as an attachment, with ETag and Repr-Digest of its SHA-256',
  ...scoped('files:read'),
  request: { params: fileIdParamSchema },
  responses: {
    200: {
      description: 'The bytes, with the media type they were uploaded with',
      content: { 'application/octet-stream': { schema: bytes } },
    },
    ...problems(401, 403, 404, 410, 429, 503),
  },
});

const deleteFile = createRoute({
  method: 'delete',
  path: '/{id}',
  tags: ['files'],
  summary: 'Delete a file; the log keeps its name and hash',
  ...scoped('files:write'),
  request: { params: fileIdParamSchema },
  responses: { 204: { description: 'Deleted' }, ...problems(401, 403, 404, 429, 503) },
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

  return openApiRoutes<Env>()
    .openapi(uploadFile, async (c) => {
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
    })
    .openapi(listFiles, async (c) => {
      const { limit, before } = c.req.valid('query');
      const page = await catalog().list(c.get('principal').tenant, {
        limit,
        ...(before ? { before } : {}),
      });
      const last = page.at(-1);
      return c.json(
        {
          files: page.map(toFileView),
          next: page.length === limit && last ? `/v1/files?limit=${limit}&before=${last.id}` : null,
        },
        200,
      );
    })
    .openapi(fileMeta, async (c) => {
      return c.json(toFileView(await findFile(c.get('principal').tenant, c.req.valid('param').id)), 200);
    })
    .openapi(downloadFile, async (c) => {
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
    .openapi(deleteFile, async (c) => {
      const principal = c.get('principal');
      const file = await findFile(principal.tenant, c.req.valid('param').id);
      await catalog().delete(file, auditMetadata(c, principal));
      return c.body(null, 204);
    });
}
