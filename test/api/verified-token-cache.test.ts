import { describe, expect, it } from 'vitest';
import { createTokenVerifier, InvalidTokenError, type Principal } from '../../services/api/token-verifier.ts';
import { cacheVerifiedTokens } from '../../services/api/verified-token-cache.ts';
import { mintToken } from '../../services/dev-token.ts';

const principal = (expiresAt?: number): Principal => ({
  subject: 'alice',
  tenant: 'acme',
  scopes: new Set(['jobs:submit']),
  ...(expiresAt === undefined ? {} : { expiresAt }),
});

/** A verifier that counts its calls and accepts tokens starting with "good". */
function countingVerifier(expiresAt?: number) {
  const calls: string[] = [];
  const verify = async (token: string) => {
    calls.push(token);
    if (!token.startsWith('good')) throw new InvalidTokenError('bad signature');
    return principal(expiresAt);
  };
  return { calls, verify };
}

describe('verified token cache', () => {
  it('checks a token once and serves the same principal to later requests', async () => {
    const { calls, verify } = countingVerifier();
    const cached = cacheVerifiedTokens(verify, { now: () => 1_000 });
    const first = await cached('good-1');
    expect(await cached('good-1')).toBe(first);
    expect(await cached('good-1')).toBe(first);
    expect(calls).toEqual(['good-1']);
  });

  it('checks the signature again once the remembered verification is older than maxAgeMs', async () => {
    const { calls, verify } = countingVerifier();
    let now = 0;
    const cached = cacheVerifiedTokens(verify, { now: () => now, maxAgeMs: 60_000 });
    await cached('good-1');
    now = 59_999;
    await cached('good-1');
    now = 60_000;
    await cached('good-1');
    expect(calls).toEqual(['good-1', 'good-1']);
  });

  it('never serves a token at or after its expiry, even within maxAgeMs', async () => {
    const { calls, verify } = countingVerifier(10_000);
    let now = 0;
    const cached = cacheVerifiedTokens(verify, { now: () => now });
    await cached('good-1');
    now = 9_999;
    await cached('good-1');
    now = 10_000;
    await cached('good-1');
    expect(calls).toHaveLength(2);
  });

  it('remembers no refusal: a bad token is checked, and refused, every time', async () => {
    const { calls, verify } = countingVerifier();
    const cached = cacheVerifiedTokens(verify, { now: () => 0 });
    await expect(cached('forged')).rejects.toThrow(InvalidTokenError);
    await expect(cached('forged')).rejects.toThrow(InvalidTokenError);
    expect(calls).toEqual(['forged', 'forged']);
  });

  it('is bounded: past maxEntries the oldest token is forgotten', async () => {
    const { calls, verify } = countingVerifier();
    const cached = cacheVerifiedTokens(verify, { now: () => 0, maxEntries: 2 });
    await cached('good-1');
    await cached('good-2');
    await cached('good-3');
    await cached('good-3');
    await cached('good-2');
    await cached('good-1');
    expect(calls).toEqual(['good-1', 'good-2', 'good-3', 'good-1']);
  });
});

describe('the token verifier with its cache', () => {
  const secret = 'a-test-secret-of-enough-length-for-hs256';
  const verifier = createTokenVerifier({ secret: new TextEncoder().encode(secret) });

  it('refuses a token whose signature was altered after the genuine one was remembered', async () => {
    const token = await mintToken({ secret, subject: 'alice', tenant: 'acme' });
    expect((await verifier(token)).subject).toBe('alice');
    const [header, payload, signature = ''] = token.split('.');
    const flipped = `${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`;
    await expect(verifier(`${header}.${payload}.${flipped}`)).rejects.toThrow(InvalidTokenError);
    // The genuine token is still accepted.
    expect((await verifier(token)).tenant).toBe('acme');
  });

  it('records the expiry the cache keeps to', async () => {
    const before = Date.now();
    const token = await mintToken({ secret, subject: 'bob', ttlSeconds: 120 });
    const { expiresAt } = await verifier(token);
    expect(expiresAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 120_000);
    expect(expiresAt).toBeLessThanOrEqual(before + 121_000);
  });

  it('refuses a token signed with another secret although a token with the same claims is remembered', async () => {
    const genuine = await mintToken({ secret, subject: 'carol' });
    await verifier(genuine);
    const forged = await mintToken({ secret: 'another-secret-of-enough-length-for-hs256', subject: 'carol' });
    await expect(verifier(forged)).rejects.toThrow(InvalidTokenError);
  });
});
