import type { FileRecord } from '../../files/file-catalog.ts';

export const fileLinks = (id: string) => ({ content: `/v1/files/${id}`, meta: `/v1/files/${id}/meta` });

/** A file as its owner sees it: never the bytes, always their hash. */
export function toFileView(file: FileRecord) {
  return {
    id: file.id,
    name: file.name,
    contentType: file.contentType,
    size: file.size,
    sha256: file.sha256,
    kind: file.kind,
    jobId: file.jobId,
    attempt: file.attempt,
    createdBy: file.createdBy,
    createdAt: file.createdAt.toISOString(),
    links: fileLinks(file.id),
  };
}

/**
 * `Content-Disposition: attachment` with the name twice: a plain ASCII fallback and the exact
 * UTF-8 name (RFC 6266 / RFC 8187), so no client ever renders an upload inline.
 */
export function attachmentDisposition(name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}
