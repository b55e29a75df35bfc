import { pack } from 'tar-stream';

/** One file to place in the container before the command starts. */
export interface ArchiveFile {
  /** Absolute path under /tmp. */
  readonly path: string;
  readonly content: Buffer;
  readonly mode: number;
}

/**
 * The tar the wrapper unpacks at `/`: every parent directory first (so modes are ours, not tar's
 * guesses), then the files. Paths were validated at the API (under /tmp, no `.` or `..`).
 */
export async function buildInputArchive(files: readonly ArchiveFile[]): Promise<Buffer> {
  const archive = pack();
  const chunks: Buffer[] = [];
  archive.on('data', (chunk) => chunks.push(chunk as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    archive.on('end', resolve);
    archive.on('error', reject);
  });
  const mtime = new Date();
  const directories = new Set<string>();
  for (const file of files) {
    const segments = file.path.split('/').filter(Boolean);
    // Every parent but /tmp itself, which is the tmpfs mount.
    for (let depth = 2; depth < segments.length; depth += 1) {
      directories.add(segments.slice(0, depth).join('/'));
    }
  }
  for (const directory of [...directories].sort()) {
    archive.entry({ name: `${directory}/`, type: 'directory', mode: 0o755, mtime });
  }
  for (const file of files) {
    archive.entry(
      { name: file.path.replace(/^\//, ''), mode: file.mode, mtime, size: file.content.length },
      file.content,
    );
  }
  archive.finalize();
  await ended;
  return Buffer.concat(chunks);
}
