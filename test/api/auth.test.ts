import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK, SignJWT, UnsecuredJWT } from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore } from '../../events/event-store.ts';
import { createApp } from '../../services/api/app.ts';
import { createTokenVerifier } from '../../services/api/token-verifier.ts';
import { loadConfig } from '../../services/config.ts';
import { hs256KeyFor, mintToken } from '../../services/dev-token.ts';
import { type RoleProcess, startRoleProcess } from '../support/role-process.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { testImage } from '../support/test-image.ts';
import { testPolicy } from '../support/test-policy.ts';

const secret = new TextEncoder().encode('auth-test-secret-long-enough-for-hs256');
const issuer = 'https://issuer.test';
const audience = 'omni-api';
const scope = 'jobs:read jobs:submit events:read';

let database: TestDatabase;
let app: ReturnType<typeof createApp>;
type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
const keys: Record<'RS256' | 'ES256' | 'EdDSA', { privateKey: PrivateKey; jwk: JWK }> = {} as never;
const publicJwks: JWK[] = [];

beforeAll(async () => {
  database = await createTestDatabase('auth');
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

const now = () => Math.floor(Date.now() / 1000);
const hour = 3600;

async function refusal(token: string, init: RequestInit = {}) {
  const response = await app.request('/v1/jobs', {
    method: 'POST',
    body: JSON.stringify({ image: testImage, command: ['true'] }),
    ...init,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  });
  expect(response.headers.get('content-type')).toBe('application/problem+json');
  const body = (await response.json()) as { code: string; detail: string };
  return { status: response.status, code: body.code, detail: body.detail };
}

describe('token lifetime', () => {
  it('refuses a token without exp: 401 token-without-expiry', async () => {
    const token = await new SignJWT(claims())
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setIssuer(issuer)
      .setAudience(audience)
      .setIssuedAt()
      .sign(secret);
    expect(await refusal(token)).toEqual({
      status: 401,
      code: 'token-without-expiry',
      detail: expect.stringMatching(/no exp claim/),
    });
  });

  it('refuses a token whose exp - iat exceeds the maximum age (24 h by default), and one without iat whose exp is further than that from now', async () => {
    const longLived = await hs256(claims(), (jwt) =>
      jwt.setIssuedAt(now()).setExpirationTime(now() + 25 * hour),
    );
    expect(await refusal(longLived)).toMatchObject({ status: 401, code: 'token-lifetime-too-long' });
    // An old iat does not make room for a far exp: the lifetime is exp - iat, not what is left of it.
    const issuedLongAgo = await hs256(claims(), (jwt) =>
      jwt.setIssuedAt(now() - 30 * hour).setExpirationTime(now() + hour),
    );
    expect(await refusal(issuedLongAgo)).toMatchObject({ status: 401, code: 'token-lifetime-too-long' });
    const withoutIat = await new SignJWT(claims())
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setIssuer(issuer)
      .setAudience(audience)
      .setExpirationTime(now() + 25 * hour)
      .sign(secret);
    expect(await refusal(withoutIat)).toMatchObject({ status: 401, code: 'token-lifetime-too-long' });
    // Exactly the maximum is fine.
    expect(
      await status(
        await hs256(claims(), (jwt) => jwt.setIssuedAt(now()).setExpirationTime(now() + 24 * hour)),
      ),
    ).toBe(404);
  });

  it('refuses iat in the future beyond the clock tolerance, and tolerates it within', async () => {
    const future = await hs256(claims(), (jwt) => jwt.setIssuedAt(now() + 60).setExpirationTime(now() + 600));
    expect(await refusal(future)).toMatchObject({ status: 401, code: 'token-issued-in-future' });
    const slightlyAhead = await hs256(claims(), (jwt) =>
      jwt.setIssuedAt(now() + 3).setExpirationTime(now() + 600),
    );
    expect(await status(slightlyAhead)).toBe(404);
  });

  it('honours a configured maximum age', async () => {
    const strict = createApp({
      store: createEventStore(database.db),
      policy: testPolicy,
      logger: pino({ level: 'silent' }),
      verifyToken: createTokenVerifier({ secret, maxTokenAgeSeconds: 600, cache: false }),
    });
    const ask = async (ttlSeconds: number) =>
      (
        await strict.request('/v1/jobs/00000000-0000-4000-8000-000000000000', {
          headers: {
            authorization: `Bearer ${await hs256(claims(), (jwt) => jwt.setIssuer(issuer).setExpirationTime(now() + ttlSeconds))}`,
          },
        })
      ).status;
    expect(await ask(600)).toBe(404);
    expect(await ask(601)).toBe(401);
    expect(loadConfig({ JWT_MAX_TOKEN_AGE_SECONDS: '900' }).auth.maxTokenAgeSeconds).toBe(900);
    expect(loadConfig({}).auth.maxTokenAgeSeconds).toBe(24 * hour);
  });
});

describe('claims written into the log', () => {
  it.each([
    ['a NUL byte in sub', { sub: 'alice\u0000' }],
    ['a lone surrogate in sub', { sub: 'alice\ud800' }],
    ['a control character in sub', { sub: 'alice\u001b[31m' }],
    ['a sub longer than 256 characters', { sub: 'a'.repeat(257) }],
    ['a NUL byte in jti', { jti: 'id\u0000' }],
    ['a NUL byte in the tenant', { tenant: 'acme\u0000' }],
  ])(
    'refuses a token with %s: 401, not a 500 from Postgres',
    async (_name, overrides: Record<string, string>) => {
      const token = await hs256(claims(overrides), (jwt) =>
        overrides.sub === undefined ? jwt : jwt.setSubject(overrides.sub),
      );
      expect(await refusal(token)).toEqual({
        status: 401,
        code: 'token-claim-malformed',
        detail: expect.stringMatching(/malformed/),
      });
    },
  );

  it('accepts a sub of any printable Unicode within 256 characters, and submits a job with it', async () => {
    const token = await hs256(claims({ scope: 'jobs:submit jobs:read' }), (jwt) =>
      jwt.setSubject('Zoë 😀 <ops@example.test>'),
    );
    const response = await app.request('/v1/jobs', {
      method: 'POST',
      body: JSON.stringify({ image: testImage, command: ['true'] }),
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    });
    expect(response.status).toBe(202);
  });
});

describe('which HS256 key is in force', () => {
  const jwks = () => JSON.stringify({ keys: publicJwks });

  it('generates a development key only when no key of any kind is configured', () => {
    expect(hs256KeyFor(loadConfig({}).auth)).toMatchObject({ generated: true });
    expect(hs256KeyFor(loadConfig({ JWT_JWKS: jwks() }).auth)).toBeUndefined();
    expect(hs256KeyFor(loadConfig({ JWT_JWKS_URL: 'https://issuer.test/jwks.json' }).auth)).toBeUndefined();
    const configured = 'a-configured-secret-of-at-least-32-chars';
    expect(hs256KeyFor(loadConfig({ JWT_SECRET: configured, JWT_JWKS: jwks() }).auth)).toEqual({
      secret: configured,
      generated: false,
    });
  });

  let api: RoleProcess | undefined;
  afterAll(() => api?.kill());

  it('an API configured with JWKS prints no development token and refuses HS256, yet accepts its key set', async () => {
    api = startRoleProcess('api', {
      DATABASE_URL: database.url,
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: `test-${randomUUID()}`,
      SANDBOX_IMAGES: testImage,
      PORT: '0',
      LOG_LEVEL: 'info',
      // No issuer or audience check: a printed development token would pass every check but its key.
      JWT_JWKS: jwks(),
    });
    const listening = await api.waitFor(/API listening/, 60_000);
    const url = (JSON.parse(listening) as { url: string }).url;
    const ask = async (token: string) =>
      (
        await fetch(`${url}/v1/jobs/00000000-0000-4000-8000-000000000000`, {
          headers: { authorization: `Bearer ${token}` },
        })
      ).status;
    expect(await ask(await asymmetric('ES256'))).toBe(404);
    // Before: a development key was generated anyway, its token printed, and HS256 accepted with it.
    const printed = api.lines.join('\n').match(/export TOKEN=(\S+)/)?.[1];
    if (printed) expect(await ask(printed)).toBe(401);
    expect(api.lines.join('\n')).not.toMatch(/development key|export TOKEN=/);
    const anyKey = await mintToken({
      secret: 'any-hs256-key-an-attacker-might-try-here',
      subject: 'mallory',
      scopes: ['admin'],
    });
    expect(await ask(anyKey)).toBe(401);
  });
});
