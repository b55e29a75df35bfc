import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { contentTypeFor } from '../../files/content-type.ts';
import type { CliContext } from './cli-context.ts';
import { fileError } from './cli-error.ts';
import { parseInteger } from './flag-values.ts';
import { formatTable } from './table.ts';

interface FileView {
  readonly id: string;
  readonly name: string;
  readonly contentType: string;
  readonly size: number;
  readonly sha256: string;
  readonly kind: string;
  readonly createdAt: string;
}

const filePath = (id: string, rest = '') => `/v1/files/${encodeURIComponent(id)}${rest}`;

/** `omni files upload PATH`: stores a local file and prints its id (for `submit --input ID:PATH`). */
async function uploadFile(
  context: CliContext,
  path: string,
  options: { name?: string; type?: string; json?: boolean },
): Promise<number> {
  const content = await readFile(path).catch((error: unknown) => {
    throw fileError(path, error);
  });
  const name = options.name ?? basename(path);
  const file = await context
    .client()
    .upload<FileView>(
      `/v1/files?name=${encodeURIComponent(name)}`,
      content,
      options.type ?? contentTypeFor(name),
    );
  context.out.write(options.json ? `${JSON.stringify(file)}\n` : `${file.id}\n`);
  return 0;
}

async function listFiles(context: CliContext, options: { limit?: string; json?: boolean }): Promise<number> {
  const limit = options.limit === undefined ? 100 : parseInteger('--limit', options.limit, 1, 500);
  const client = context.client();
  const page = await client.call(client.omni.api.GET('/v1/files', { params: { query: { limit } } }));
  if (options.json) context.out.write(`${JSON.stringify(page)}\n`);
  else
    context.out.write(
      formatTable(
        ['ID', 'SIZE', 'KIND', 'CREATED', 'NAME'],
        page.files.map((file) => [file.id, String(file.size), file.kind, file.createdAt, file.name]),
      ),
    );
  return 0;
}

async function getFile(context: CliContext, id: string, json: boolean): Promise<number> {
  const client = context.client();
  const file = await client.call(client.omni.api.GET('/v1/files/{id}/meta', { params: { path: { id } } }));
  context.out.write(
    json
      ? `${JSON.stringify(file)}\n`
      : `id:        ${file.id}\nname:      ${file.name}\ntype:      ${file.contentType}\nsize:      ${file.size}\nsha256:    ${file.sha256}\nkind:      ${file.kind}\ncreated:   ${file.createdAt}\n`,
  );
  return 0;
}

/** The file's bytes to `--output FILE`, or to stdout (the bytes are the result). */
async function downloadFile(context: CliContext, id: string, options: { output?: string }): Promise<number> {
  const bytes = await context.client().bytes(filePath(id));
  const output = options.output;
  if (output)
    await writeFile(output, bytes).catch((error: unknown) => {
      throw fileError(output, error);
    });
  else context.out.write(bytes);
  return 0;
}

async function deleteFile(context: CliContext, id: string, json: boolean): Promise<number> {
  const client = context.client();
  await client.call(client.omni.api.DELETE('/v1/files/{id}', { params: { path: { id } } }));
  context.out.write(json ? `${JSON.stringify({ id, deleted: true })}\n` : `${id}\n`);
  return 0;
}

export function registerFilesCommands(program: Command, context: CliContext): void {
  const files = program
    .command('files')
    .summary("upload, list, read and delete files for jobs' inputs")
    .description("Files for jobs' inputs (and the artifacts jobs left), named by id, pinned by SHA-256.")
    .addHelpText(
      'after',
      `
Examples:
  omni files upload sales.csv          # prints the file id
  omni files list
  omni files download 3d1b… -o copy.csv`,
    );
  files
    .command('upload')
    .description('store a local file; prints its id (--json: the file as JSON)')
    .argument('<path>')
    .option('--name <NAME>', "the name it is stored under (default: the file's own)")
    .option('--type <MEDIA-TYPE>', 'its media type (default: guessed from the name)')
    .option('--json', 'print the file as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  omni files upload sales.csv\n  omni files upload report.bin --type application/octet-stream --json',
    )
    .action(async (path: string, options: { name?: string; type?: string; json?: boolean }) => {
      context.exitCode = await uploadFile(context, path, options);
    });
  files
    .command('list')
    .description("your tenant's files, newest first")
    .option('--limit <N>', 'files to list, 1-500 (default 100)')
    .option('--json', 'print the page as JSON')
    .addHelpText('after', '\nExamples:\n  omni files list --limit 10')
    .action(async (options: { limit?: string; json?: boolean }) => {
      context.exitCode = await listFiles(context, options);
    });
  files
    .command('get')
    .description("a file's record: name, type, size, SHA-256")
    .argument('<file-id>')
    .option('--json', 'print the file as JSON')
    .addHelpText('after', '\nExamples:\n  omni files get 3d1b… --json')
    .action(async (id: string, options: { json?: boolean }) => {
      context.exitCode = await getFile(context, id, options.json === true);
    });
  files
    .command('download')
    .description("a file's bytes, to stdout or to --output FILE")
    .argument('<file-id>')
    .option('-o, --output <FILE>', 'write here instead of stdout')
    .addHelpText(
      'after',
      '\nExamples:\n  omni files download 3d1b… -o sales.csv\n  omni files download 3d1b… | wc -l',
    )
    .action(async (id: string, options: { output?: string }) => {
      context.exitCode = await downloadFile(context, id, options);
    });
  files
    .command('delete')
    .description('delete a file (its hash stays in the log)')
    .argument('<file-id>')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExamples:\n  omni files delete 3d1b…')
    .action(async (id: string, options: { json?: boolean }) => {
      context.exitCode = await deleteFile(context, id, options.json === true);
    });
}
