import { maskSecrets } from './secret-vault.ts';

export interface StreamMasker {
  /** Masks `text` and returns what is safe to release; a possible start of a secret is held back. */
  push(text: string): string;
  /** The held-back rest, masked. */
  end(): string;
}

/**
 * maskSecrets for text that arrives in pieces: a secret split across two pieces is still masked,
 * because a tail that could begin a secret waits for the next piece before it is released.
 */
export function createStreamMasker(values: Iterable<string>): StreamMasker {
  // The same threshold as maskSecrets: shorter values are never masked, so never held back either.
  const secrets = [...values].filter((value) => value.length >= 4);
  let held = '';
  return {
    push(text) {
      if (secrets.length === 0) return text;
      const masked = maskSecrets(held + text, secrets);
      const keep = longestSecretPrefixSuffix(masked, secrets);
      held = masked.slice(masked.length - keep);
      return masked.slice(0, masked.length - keep);
    },
    end() {
      const rest = maskSecrets(held, secrets);
      held = '';
      return rest;
    },
  };
}

/** Length of the longest suffix of `text` that is a proper prefix of some secret. */
function longestSecretPrefixSuffix(text: string, secrets: readonly string[]): number {
  let longest = 0;
  for (const secret of secrets) {
    for (let length = Math.min(secret.length - 1, text.length); length > longest; length -= 1) {
      if (text.endsWith(secret.slice(0, length))) {
        longest = length;
        break;
      }
    }
  }
  return longest;
}
