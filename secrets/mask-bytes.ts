const mask = Buffer.from('[secret]');

export interface ByteMasker {
  /** Masks `bytes` and returns what is safe to release; a possible start of a secret is held back. */
  push(bytes: Buffer): Buffer;
  /** The held-back rest, masked. */
  end(): Buffer;
}

/**
 * createStreamMasker for raw UTF-8 bytes, as they leave the sandbox and before any cap counts
 * them: a cap that cuts a secret then only ever cuts its mask. Matching the secrets' UTF-8 bytes
 * is matching their text (UTF-8 is self-synchronising), so the result is what maskSecrets gives
 * on the decoded text; values shorter than 4 characters are left alone, as there.
 */
export function createByteMasker(values: Iterable<string>): ByteMasker {
  const secrets = [...values].filter((value) => value.length >= 4).map((value) => Buffer.from(value, 'utf8'));
  let held: Buffer = Buffer.alloc(0);
  return {
    push(bytes) {
      if (secrets.length === 0) return bytes;
      const masked = maskAll(held.length === 0 ? bytes : Buffer.concat([held, bytes]), secrets);
      const keep = longestSecretPrefixSuffix(masked, secrets);
      held = Buffer.from(masked.subarray(masked.length - keep));
      return masked.subarray(0, masked.length - keep);
    },
    end() {
      const rest = maskAll(held, secrets);
      held = Buffer.alloc(0);
      return rest;
    },
  };
}

/** Every occurrence of each secret in turn, as maskSecrets' successive replaceAll does. */
function maskAll(bytes: Buffer, secrets: readonly Buffer[]): Buffer {
  let masked = bytes;
  for (const secret of secrets) {
    let index = masked.indexOf(secret);
    if (index < 0) continue;
    const parts: Buffer[] = [];
    let from = 0;
    while (index >= 0) {
      parts.push(masked.subarray(from, index), mask);
      from = index + secret.length;
      index = masked.indexOf(secret, from);
    }
    parts.push(masked.subarray(from));
    masked = Buffer.concat(parts);
  }
  return masked;
}

/** Length of the longest suffix of `bytes` that is a proper prefix of some secret. */
function longestSecretPrefixSuffix(bytes: Buffer, secrets: readonly Buffer[]): number {
  let longest = 0;
  for (const secret of secrets) {
    for (let length = Math.min(secret.length - 1, bytes.length); length > longest; length -= 1) {
      if (bytes.subarray(bytes.length - length).equals(secret.subarray(0, length))) {
        longest = length;
        break;
      }
    }
  }
  return longest;
}
