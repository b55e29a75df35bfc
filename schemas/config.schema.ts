import { z } from 'zod';

const mebibyte = 1024 * 1024;

const commaList = z
  .string()
  .transform((value) =>
    value
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item.length > 0),
  );

const positiveInt = z.coerce.number().int().positive();

/**
 * The process environment, parsed once at start-up. Only the entry point reads `process.env`;
 * everything else receives the slice it needs.
 */
export const environmentSchema = z
  .object({
    // Postgres holding the event store and read models.
    DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).default('postgres://postgres@127.0.0.1:5432/omni'),
    // Redis holding the BullMQ queues (derived state: rebuilt from the log if lost).
    REDIS_URL: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379'),
    // Prefix of every BullMQ key, so several deployments (or test runs) can share one Redis.
    QUEUE_PREFIX: z.string().min(1).default('omni'),
    // Docker engine: a unix socket path or tcp://host:port. Empty means the default socket.
    DOCKER_HOST: z.string().default(''),
    // HTTP port of the API.
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    // Address the API binds to.
    HOST: z.string().default('127.0.0.1'),
    // HS256 secret for bearer tokens (32+ bytes). Unset: a development key is generated at start-up.
    JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    // Expected `iss` and `aud` of tokens; unset means not checked.
    JWT_ISSUER: z.string().optional(),
    JWT_AUDIENCE: z.string().optional(),
    // Public keys for RS256/ES256/EdDSA tokens: a JWK set as JSON, or a JWKS URL (cached, refetched on an unknown kid).
    JWT_JWKS: z.string().optional(),
    JWT_JWKS_URL: z.url({ protocol: /^https?$/ }).optional(),
    // Seconds of clock difference tolerated on exp and nbf.
    JWT_CLOCK_TOLERANCE_SECONDS: z.coerce.number().int().min(0).max(300).default(30),
    // Claim naming the caller's tenant; tokens without it act in the tenant "default".
    JWT_TENANT_CLAIM: z.string().min(1).default('tenant'),
    // Browser origins allowed to call the API, comma separated; none by default.
    CORS_ORIGINS: commaList.default([]),
    // Requests allowed per window, per token subject and per tenant, shared by every API replica.
    RATE_LIMIT_WINDOW_SECONDS: positiveInt.default(60),
    RATE_LIMIT_PER_SUBJECT: positiveInt.default(600),
    RATE_LIMIT_PER_TENANT: positiveInt.default(3000),
    // Longest a request handler may take before the client gets a 503.
    REQUEST_TIMEOUT_MS: positiveInt.default(15_000),
    // Largest accepted request body.
    MAX_BODY_BYTES: positiveInt.default(2 * mebibyte),
    // Keys encrypting secrets at rest: "id:base64-of-32-bytes" pairs, comma separated; the first encrypts,
    // all decrypt (so keys can rotate). Unset: the secrets API answers 503.
    SECRETS_KEYS: commaList.default([]),
    // Images jobs may use, comma separated (exact references).
    SANDBOX_IMAGES: commaList.default(['omni-busybox:latest']),
    // Optional OCI runtime for sandbox containers, e.g. runsc for gVisor.
    SANDBOX_RUNTIME: z.string().optional(),
    // uid:gid jobs run as; never root.
    SANDBOX_USER: z
      .string()
      .regex(/^[1-9][0-9]*:[1-9][0-9]*$/, 'must be uid:gid with both non-zero')
      .default('65534:65534'),
    // Defaults applied when a job names no limit, and maxima no job may exceed.
    SANDBOX_DEFAULT_MEMORY_MB: positiveInt.default(256),
    SANDBOX_MAX_MEMORY_MB: positiveInt.default(2048),
    SANDBOX_DEFAULT_CPUS: z.coerce.number().positive().default(1),
    SANDBOX_MAX_CPUS: z.coerce.number().positive().default(2),
    SANDBOX_DEFAULT_PIDS: positiveInt.default(64),
    SANDBOX_MAX_PIDS: positiveInt.default(512),
    SANDBOX_DEFAULT_TIMEOUT_MS: positiveInt.default(30_000),
    SANDBOX_MAX_TIMEOUT_MS: positiveInt.default(15 * 60_000),
    // Bytes of stdout+stderr kept per attempt; the rest is dropped and the run marked truncated.
    SANDBOX_OUTPUT_LIMIT_BYTES: positiveInt.default(mebibyte),
    // Size of the writable /tmp tmpfs.
    SANDBOX_TMPFS_MB: positiveInt.default(64),
    // Jobs one worker process runs at once.
    WORKER_CONCURRENCY: positiveInt.default(4),
    // Log level of the structured logger.
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .superRefine((env, ctx) => {
    const pairs: ReadonlyArray<readonly [keyof typeof env, keyof typeof env]> = [
      ['SANDBOX_DEFAULT_MEMORY_MB', 'SANDBOX_MAX_MEMORY_MB'],
      ['SANDBOX_DEFAULT_CPUS', 'SANDBOX_MAX_CPUS'],
      ['SANDBOX_DEFAULT_PIDS', 'SANDBOX_MAX_PIDS'],
      ['SANDBOX_DEFAULT_TIMEOUT_MS', 'SANDBOX_MAX_TIMEOUT_MS'],
    ];
    for (const [defaultKey, maxKey] of pairs) {
      if ((env[defaultKey] as number) > (env[maxKey] as number)) {
        ctx.addIssue({ code: 'custom', path: [defaultKey], message: `must not exceed ${maxKey}` });
      }
    }
    env.SECRETS_KEYS.forEach((entry, index) => {
      const [id, key] = entry.split(':');
      if (!id || !key || Buffer.from(key, 'base64').length !== 32) {
        ctx.addIssue({ code: 'custom', path: ['SECRETS_KEYS', index], message: 'each key must be id:base64 of 32 bytes' });
      }
    });
    if (env.JWT_JWKS !== undefined) {
      try {
        const parsed = JSON.parse(env.JWT_JWKS) as { keys?: unknown };
        if (!Array.isArray(parsed.keys)) throw new Error('no keys');
      } catch {
        ctx.addIssue({ code: 'custom', path: ['JWT_JWKS'], message: 'must be a JSON JWK set ({"keys":[...]})' });
      }
    }
    if (env.SANDBOX_IMAGES.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['SANDBOX_IMAGES'], message: 'must name at least one image' });
    }
  });

export type Environment = z.infer<typeof environmentSchema>;

/** Operator policy for sandboxes: what the worker and the API's clamping both read. */
export interface SandboxPolicy {
  readonly allowedImages: readonly string[];
  readonly runtime?: string;
  readonly user: string;
  readonly defaults: { readonly memoryBytes: number; readonly cpus: number; readonly pids: number; readonly timeoutMs: number };
  readonly maxima: { readonly memoryBytes: number; readonly cpus: number; readonly pids: number; readonly timeoutMs: number };
  readonly outputLimitBytes: number;
  readonly tmpfsBytes: number;
}
