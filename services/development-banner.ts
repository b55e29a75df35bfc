import { scopes } from './api/token-verifier.ts';
import { mintToken } from './dev-token.ts';

export interface DevelopmentBannerOptions {
  readonly url: string;
  /** The development key generated for this process. */
  readonly secret: string;
  /** An allowlisted image for the example job. */
  readonly image: string;
  readonly maxTokenAgeSeconds: number;
}

/**
 * What `npm start` prints when it generated its own key: a client token for the curl lines, and an
 * admin token (marked as such) for the operator's side: the CLI's `events tail`, `verify` over HTTP
 * and the console's event log and queue health. The key lives only in this process, so these are
 * the only tokens it will ever accept; a restart prints new ones.
 */
export async function developmentBanner(options: DevelopmentBannerOptions): Promise<string> {
  const { url, secret, image } = options;
  // The API refuses a token that lives longer than JWT_MAX_TOKEN_AGE_SECONDS, its own included.
  const ttlSeconds = Math.min(24 * 3600, options.maxTokenAgeSeconds);
  const token = await mintToken({ secret, subject: 'dev-user', ttlSeconds });
  const adminToken = await mintToken({
    secret,
    subject: 'dev-admin',
    ttlSeconds,
    scopes,
  });
  const body = JSON.stringify({ image, command: ['echo', 'hello'] });
  const hours = Math.round((ttlSeconds / 3600) * 10) / 10;
  return `
omni is running at ${url}
No JWT_SECRET, JWT_JWKS or JWT_JWKS_URL is set, so a development key was generated for this process
only (a restart generates another). A client token (${hours} h):

  export TOKEN=${token}

Submit a job:

  curl -s -X POST ${url}/v1/jobs -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '${body}'

Then read it:  curl -s ${url}/v1/jobs/<id> -H "authorization: Bearer $TOKEN"
API reference: ${url}/docs

ADMIN token (every tenant, the global log, verify; development only, never share it):

  export OMNI_URL=${url} OMNI_TOKEN=${adminToken}

Then, for example:  omni events tail --limit 3

Operators' console, signed in as admin (the part after # never leaves the browser):

  ${url}/console/#token=${adminToken}

`;
}
