/**
 * The operator's image allowlist. An entry is an exact reference (`name:tag`) or a pinned one
 * (`name:tag@sha256:...`); a job names the reference part, and a pinned entry also demands that
 * the local image carry the digest (as its id or one of its repo digests).
 */
export interface AllowedImage {
  /** What a job names in its spec. */
  readonly reference: string;
  /** `sha256:...` when the entry pins one. */
  readonly digest?: string;
}

export function parseAllowedImage(entry: string): AllowedImage {
  const at = entry.indexOf('@');
  if (at < 0) return { reference: entry };
  return { reference: entry.slice(0, at), digest: entry.slice(at + 1) };
}

/** The allowlist entry a job's image matches, if any. Pure; the API and the worker share it. */
export function findAllowedImage(allowed: readonly string[], image: string): AllowedImage | undefined {
  for (const entry of allowed) {
    const parsed = parseAllowedImage(entry);
    if (parsed.reference === image || entry === image) return parsed;
  }
  return undefined;
}

/** Whether an inspected image is the one a digest pins: its id (locally built) or a registry digest. */
export function matchesDigest(
  image: { readonly Id: string; readonly RepoDigests?: readonly string[] | null },
  digest: string,
): boolean {
  return (
    image.Id === digest || (image.RepoDigests ?? []).some((repoDigest) => repoDigest.endsWith(`@${digest}`))
  );
}

/** `registry:5000/name:tag` → `registry:5000/name`: a tag is a colon after the last slash. */
export function repositoryOf(reference: string): string {
  const colon = reference.lastIndexOf(':');
  return colon > reference.lastIndexOf('/') ? reference.slice(0, colon) : reference;
}
