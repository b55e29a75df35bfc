/**
 * A name the operator's disk can take from hostile text (a job picks its files' names): the last
 * path segment, without control characters, separators or leading dots, at most 120 characters.
 * The browser sanitises a download's name again; this keeps what it is given boring.
 */
export function safeFileName(path: string): string {
  const last = path.split('/').filter(Boolean).at(-1) ?? '';
  // Control characters (C0, DEL, C1) and what file systems or shells treat specially become `_`.
  const cleaned = [...last]
    .map((char) => {
      const code = char.codePointAt(0) ?? 0;
      return code < 0x20 || (code >= 0x7f && code <= 0x9f) || '\\:*?"<>|'.includes(char) ? '_' : char;
    })
    .join('')
    .replace(/^\.+/, '')
    .slice(0, 120);
  return cleaned.trim() === '' ? 'download' : cleaned;
}

/** The SHA-256 of bytes as hex; undefined where the page is not a secure context (no WebCrypto). */
export async function sha256Hex(blob: Blob): Promise<string | undefined> {
  if (!globalThis.crypto?.subtle) return undefined;
  const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, '0')).join('');
}

/**
 * Hands bytes already fetched (with the token in a header) to the browser as a download through a
 * short-lived object URL: the token never appears in an address, and the file never opens in the
 * console's origin.
 */
export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const anchor = document.createElement('a');
  anchor.href = url;
  anchor.download = safeFileName(name);
  anchor.rel = 'noopener';
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  // Revoked later, not at once: the download may not have read the blob yet.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
