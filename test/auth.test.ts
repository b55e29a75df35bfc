import { exportJWK, generateKeyPair, type JWK, SignJWT, UnsecuredJWT } from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore } from '../events/event-store.ts';
import { createApp } from '../services/api/app.ts';
import { createTokenVerifier } from '../services/api/token-verifier.ts';
import { createTestDatabase, type TestDatabase } from './support/test-database.ts';
import { testPolicy } from './support/test-policy.ts';

const secret = new TextEncoder().encode('auth-test-secret-long-enough-for-hs256');
const issuer = 'https://issuer.test';
const audience = 'omni-api';
const scope = 'jobs:read jobs:submit events:read';

let database: TestDatabase;
let app: ReturnType<typeof createApp>;
type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
const keys: Record<'RS256' | 'ES256' | 'EdDSA', { privateKey: PrivateKey; jwk: JWK }> = {} as never;

beforeAll(async () => {
  database = await createTestDatabase('auth');
  const publicJwks: JWK[] = [];
  for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
    const pair = await generateKeyPair(alg, { extractable: true });
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: `key-${alg}`, alg };
    keys[alg] = { privateKey: pair.privateKey, jwk };
    publicJwks.push(jwk);
  }
  app = createApp({
    store: createEventStore(database.db),
    policy: testPolicy,
    logger: pino({ level: 'silent' }),
    verifyToken: createTokenVerifier({
      secret,
      jwks: { keys: publicJwks },
      issuer,
      audience,
      clockToleranceSeconds: 5,
    }),
  });
});
afterAll(() => database?.destroy());

const claims = (overrides: Record<string, unknown> = {}) => ({ scope, tenant: 'acme', ...overrides });

function hs256(payload: Record<string, unknown> = claims(), setup: (jwt: SignJWT) => SignJWT = (jwt) => jwt) {
  return setup(
    new SignJWT(payload)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setIssuer(issuer)
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime('5m'),
  ).sign(secret);
}

function asymmetric(alg: keyof typeof keys, setup: (jwt: SignJWT) => SignJWT = (jwt) => jwt) {
  return setup(
    new SignJWT(claims())
      .setProtectedHeader({ alg, kid: `key-${alg}` })
      .setSubject('alice')
      .setIssuer(issuer)
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime('5m'),
  ).sign(keys[alg].privateKey);
}

const status = async (token: string) =>
  (
    await app.request('/v1/jobs/00000000-0000-4000-8000-000000000000', {
      headers: { authorization: `Bearer ${token}` },
    })
  ).status;

describe('bearer tokens', () => {
  it('accepts HS256 and, from the key set, RS256, ES256 and EdDSA (a valid token reaches the route: 404 job)', async () => {
    expect(await status(await hs256())).toBe(404);
    for (const alg of ['RS256', 'ES256', 'EdDSA'] as const)
      expect(await status(await asymmetric(alg))).toBe(404);
  });

  it.each([
    ['expired', () => hs256(claims(), (jwt) => jwt.setExpirationTime(Math.floor(Date.now() / 1000) - 60))],
    ['not yet valid', () => hs256(claims(), (jwt) => jwt.setNotBefore(Math.floor(Date.now() / 1000) + 60))],
    ['from another issuer', () => hs256(claims(), (jwt) => jwt.setIssuer('https://evil.test'))],
    ['for another audience', () => hs256(claims(), (jwt) => jwt.setAudience('someone-else'))],
    [
      'signed with another secret',
      () =>
        new SignJWT(claims())
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject('alice')
          .setIssuer(issuer)
          .setAudience(audience)
          .setExpirationTime('5m')
          .sign(new TextEncoder().encode('x'.repeat(40))),
    ],
    [
      'unsigned (alg: none)',
      async () =>
        new UnsecuredJWT(claims())
          .setSubject('alice')
          .setIssuer(issuer)
          .setAudience(audience)
          .setExpirationTime('5m')
          .encode(),
    ],
    [
      'HS256 keyed with the RSA public key (algorithm confusion)',
      async () => {
        const publicKeyAsSecret = new TextEncoder().encode(JSON.stringify(keys.RS256.jwk));
        return new SignJWT(claims())
          .setProtectedHeader({ alg: 'HS256', kid: 'key-RS256' })
          .setSubject('alice')
          .setIssuer(issuer)
          .setAudience(audience)
          .setExpirationTime('5m')
          .sign(publicKeyAsSecret);
      },
    ],
    [
      'tampered after signing',
      async () => {
        const [header, , signature] = (await hs256()).split('.');
        const forgedPayload = Buffer.from(
          JSON.stringify({
            ...claims({ scope: 'admin' }),
            sub: 'mallory',
            iss: issuer,
            aud: audience,
            exp: Math.floor(Date.now() / 1000) + 300,
          }),
        ).toString('base64url');
        return `${header}.${forgedPayload}.${signature}`;
      },
    ],
    [
      'without a subject',
      () =>
        new SignJWT(claims())
          .setProtectedHeader({ alg: 'HS256' })
          .setIssuer(issuer)
          .setAudience(audience)
          .setExpirationTime('5m')
          .sign(secret),
    ],
  ])('refuses a token %s with 401 problem+json', async (_name, makeToken) => {
    const response = await app.request('/v1/jobs/00000000-0000-4000-8000-000000000000', {
      headers: { authorization: `Bearer ${await makeToken()}` },
    });
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await response.json()).toMatchObject({
      code: 'unauthorized',
      detail: 'the bearer token is invalid or expired',
    });
  });

  it('tolerates a small clock skew on exp', async () => {
    expect(
      await status(await hs256(claims(), (jwt) => jwt.setExpirationTime(Math.floor(Date.now() / 1000) - 2))),
    ).toBe(404);
  });
});
