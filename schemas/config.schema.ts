import { z } from 'zod';
import { inputBounds } from './input-bounds.ts';
import { retryReasonSchema } from './job-events.schema.ts';
import type { RetryPolicy } from './job-spec.schema.ts';

const mebibyte = 1024 * 1024;

const commaList = z.string().transform((value) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0),
);

const positiveInt = z.coerce.number().int().positive();

/** Libraries the telemetry can patch so their calls become spans. */
export const autoInstrumentationSchema = z.enum(['http', 'pg', 'ioredis']);
export type AutoInstrumentation = z.infer<typeof autoInstrumentationSchema>;

/** Docker's registry auth config, as the engine's pull endpoint takes it. */
const registryAuthSchema = z
  .object({
    username: z.string().optional(),
    password: z.string().optional(),
    serveraddress: z.string().optional(),
    identitytoken: z.string().optional(),
  })
  .strict();
export type RegistryAuth = z.infer<typeof registryAuthSchema>;

/** The process environment as variables: each one's name, default and validation, checked together. */
const environmentSchema = z
  .object({
    // Postgres holding the event store and read models. The password is the compose file's, so
    // `docker compose up -d postgres redis` then `npm start` connects (a trusting server ignores it).
    DATABASE_URL: z
      .url({ protocol: /^postgres(ql)?$/ })
      .default('postgres://postgres:omni@127.0.0.1:5432/omni'),
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
    // A role run without the API (dispatcher, worker, projector) serves its own /metrics on this
    // port (on HOST); unset: it serves none (the API serves /metrics on PORT in any case).
    METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
    // HS256 secret for bearer tokens (32+ bytes). HS256 is accepted only with it, or with the
    // development key generated at start-up when no key at all (JWT_SECRET, JWT_JWKS, JWT_JWKS_URL) is set.
    JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    // Expected `iss` and `aud` of tokens; unset means not checked.
    JWT_ISSUER: z.string().optional(),
    JWT_AUDIENCE: z.string().optional(),
    // Public keys for RS256/ES256/EdDSA tokens: a JWK set as JSON, or a JWKS URL (cached, refetched on an unknown kid).
    JWT_JWKS: z.string().optional(),
    JWT_JWKS_URL: z.url({ protocol: /^https?$/ }).optional(),
    // Seconds of clock difference tolerated on exp and nbf.
    JWT_CLOCK_TOLERANCE_SECONDS: z.coerce.number().int().min(0).max(300).default(30),
    // Longest lifetime a token may claim (exp - iat, or exp - now without iat); tokens must carry exp.
    JWT_MAX_TOKEN_AGE_SECONDS: z.coerce
      .number()
      .int()
      .min(60)
      .max(30 * 24 * 3600)
      .default(24 * 3600),
    // Claim naming the caller's tenant; tokens without it act in the tenant "default".
    JWT_TENANT_CLAIM: z.string().min(1).default('tenant'),
    // Browser origins allowed to call the API, comma separated; none by default.
    CORS_ORIGINS: commaList.default([]),
    // Requests allowed per window, per token subject and per tenant, shared by every API replica.
    RATE_LIMIT_WINDOW_SECONDS: positiveInt.default(60),
    RATE_LIMIT_PER_SUBJECT: positiveInt.default(600),
    RATE_LIMIT_PER_TENANT: positiveInt.default(3000),
    // Requests per window, per client address (IPv6: per /64), that fail authentication or carry no token; past it, 429.
    RATE_LIMIT_PER_ADDRESS_UNAUTHENTICATED: positiveInt.default(60),
    // Reverse proxies in front of the API that append to X-Forwarded-For; 0: the header is ignored and the socket's peer is the client.
    TRUST_PROXY: z.coerce.number().int().min(0).max(10).default(0),
    // Longest a request handler may take before the client gets a 503.
    REQUEST_TIMEOUT_MS: positiveInt.default(15_000),
    // Largest accepted request body.
    MAX_BODY_BYTES: positiveInt.default(2 * mebibyte),
    // Keys encrypting secrets at rest: "id:base64-of-32-bytes" pairs, comma separated; the first encrypts,
    // all decrypt (so keys can rotate). Unset: the secrets API answers 503.
    SECRETS_KEYS: commaList.default([]),
    // Images jobs may use, comma separated (exact references). `name:tag@sha256:...` pins one: the local image
    // must carry that id or repo digest, or every job naming `name:tag` is refused.
    SANDBOX_IMAGES: commaList.default(['omni-busybox:latest']),
    // Pull an allowed image the engine lacks (by its pinned digest when there is one). Off: such jobs fail with image-missing.
    SANDBOX_PULL_MISSING: z.stringbool().default(false),
    // Registry credentials for those pulls, as Docker's auth config JSON: {"username","password","serveraddress"} or {"identitytoken"}.
    SANDBOX_REGISTRY_AUTH: z
      .string()
      .transform((value, ctx) => {
        try {
          return registryAuthSchema.parse(JSON.parse(value));
        } catch {
          // Never echo the value: it holds a password.
          ctx.addIssue({
            code: 'custom',
            message: 'must be a JSON object with username/password/serveraddress or identitytoken',
          });
          return z.NEVER;
        }
      })
      .optional(),
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
    // At most 2^31 - 1 (24.8 days): a longer timer fires at once, failing every job as timed out.
    SANDBOX_DEFAULT_TIMEOUT_MS: positiveInt.max(inputBounds.maxTimeoutMs).default(30_000),
    SANDBOX_MAX_TIMEOUT_MS: positiveInt.max(inputBounds.maxTimeoutMs).default(15 * 60_000),
    // Bytes of stdout+stderr kept per attempt; the rest is dropped and the run marked truncated.
    SANDBOX_OUTPUT_LIMIT_BYTES: positiveInt.default(mebibyte),
    // Size of the writable /tmp tmpfs.
    SANDBOX_TMPFS_MB: positiveInt.default(64),
    // Containers a worker keeps started ahead per sandbox profile (image; /out or not), each used for
    // one attempt and then removed; 0: every attempt creates and starts its own. 2 per profile: a
    // small burst runs at the warm latency while keeping a 2-core host's idle containers few.
    SANDBOX_WARM_POOL_SIZE: z.coerce.number().int().min(0).max(32).default(2),
    // Largest file one upload may carry (POST /v1/files); larger ones get 413 and leave nothing behind.
    FILES_MAX_UPLOAD_MB: positiveInt.default(32),
    // Where file and artifact bytes live: Postgres (no extra server) or an S3-compatible bucket.
    FILES_STORE: z.enum(['postgres', 's3']).default('postgres'),
    FILES_S3_BUCKET: z.string().min(1).optional(),
    // For S3-compatible servers other than AWS (MinIO, Ceph, R2); unset: AWS's regional endpoint.
    FILES_S3_ENDPOINT: z.url().optional(),
    FILES_S3_REGION: z.string().min(1).default('us-east-1'),
    FILES_S3_PREFIX: z.string().default('omni/'),
    FILES_S3_FORCE_PATH_STYLE: z.stringbool().default(false),
    // Total bytes of uploaded input files one job may name.
    SANDBOX_MAX_INPUT_MB: positiveInt.default(32),
    // Size of the writable /out tmpfs that declared outputs are collected from.
    SANDBOX_OUTPUTS_MB: positiveInt.default(64),
    // Caps on what is collected from /out: bytes per artifact and artifacts per attempt.
    ARTIFACT_MAX_MB: positiveInt.default(16),
    ARTIFACT_MAX_COUNT: positiveInt.default(32),
    // Jobs one worker process runs at once.
    WORKER_CONCURRENCY: positiveInt.default(4),
    // Jobs one tenant may have running at once across all workers (fairness between tenants).
    TENANT_MAX_RUNNING: positiveInt.default(8),
    // On SIGTERM a worker lets running jobs finish for this long, then kills them and records them abandoned.
    WORKER_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(30_000),
    // A worker renews its lease in Postgres every third of this; past it, its attempts count as abandoned.
    WORKER_LEASE_MS: z.coerce.number().int().min(1000).default(10_000),
    // How often the dispatcher re-derives the queue from the log (lost messages, expired or abandoned attempts).
    RECONCILE_INTERVAL_MS: z.coerce.number().int().min(100).default(5_000),
    // Retry policy defaults (a job may override them) and maxima (no job may exceed them).
    RETRY_DEFAULT_MAX_ATTEMPTS: positiveInt.default(3),
    RETRY_MAX_ATTEMPTS: positiveInt.default(10),
    // Delays at most 365 days: a retry due past the year 9999 would be an event no reader can read.
    RETRY_DEFAULT_INITIAL_MS: z.coerce.number().int().min(0).max(inputBounds.maxDurationMs).default(1_000),
    RETRY_DEFAULT_MULTIPLIER: z.coerce.number().min(1).default(2),
    RETRY_DEFAULT_MAX_DELAY_MS: z.coerce.number().int().min(0).max(inputBounds.maxDurationMs).default(60_000),
    RETRY_MAX_DELAY_MS: z.coerce.number().int().min(0).max(inputBounds.maxDurationMs).default(3_600_000),
    RETRY_DEFAULT_JITTER: z.coerce.number().min(0).max(1).default(0.2),
    // Failure reasons retried when a job names none: infrastructure failures, not the job's own.
    RETRY_DEFAULT_ON: commaList.pipe(z.array(retryReasonSchema)).default(['abandoned', 'sandbox-error']),
    // OTLP/HTTP collector for traces and metrics (e.g. http://otel-collector:4318); unset: none exported.
    OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional(),
    // Libraries not to auto-instrument (http, pg, ioredis); all three are when traces are exported.
    OTEL_NODE_DISABLED_INSTRUMENTATIONS: commaList.pipe(z.array(autoInstrumentationSchema)).default([]),
    // Signed anchors of the log (see `omni anchor`): every ANCHOR_INTERVAL_MS the active dispatcher
    // appends one to ANCHOR_FILE, signed with the Ed25519 private key (PEM) in ANCHOR_KEY_FILE.
    // Unset: none (run `omni anchor` from cron on a host of its own instead: better, since the
    // dispatcher's host also holds database credentials). At most 2^31 - 1: a longer timer fires at once.
    ANCHOR_INTERVAL_MS: z.coerce.number().int().min(1000).max(inputBounds.maxTimeoutMs).optional(),
    ANCHOR_FILE: z.string().min(1).optional(),
    ANCHOR_KEY_FILE: z.string().min(1).optional(),
    // Webhook deliveries may go to loopback and private addresses (127/8, ::1, 10/8, 172.16/12,
    // 192.168/16, fc00::/7): for tests and private networks. Link-local, metadata and multicast never.
    WEBHOOK_ALLOW_PRIVATE: z.stringbool().default(false),
    // One delivery attempt, from connecting to the last byte of the response read; then it failed.
    WEBHOOK_TIMEOUT_MS: positiveInt.max(300_000).default(10_000),
    // How long a failing delivery is retried (exponential backoff) before it is given up.
    WEBHOOK_RETRY_FOR_MS: positiveInt.max(inputBounds.maxDurationMs).default(24 * 3600_000),
    // How long a finished delivery's row is kept (its attempts are events on the job's stream for
    // good); within it an event handled again owes no second delivery.
    WEBHOOK_RETENTION_MS: positiveInt.max(inputBounds.maxDurationMs).default(7 * 24 * 3600_000),
    // Log level of the structured logger.
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .superRefine((env, ctx) => {
    const pairs: ReadonlyArray<readonly [keyof typeof env, keyof typeof env]> = [
      ['SANDBOX_DEFAULT_MEMORY_MB', 'SANDBOX_MAX_MEMORY_MB'],
      ['SANDBOX_DEFAULT_CPUS', 'SANDBOX_MAX_CPUS'],
      ['SANDBOX_DEFAULT_PIDS', 'SANDBOX_MAX_PIDS'],
      ['SANDBOX_DEFAULT_TIMEOUT_MS', 'SANDBOX_MAX_TIMEOUT_MS'],
      ['RETRY_DEFAULT_MAX_ATTEMPTS', 'RETRY_MAX_ATTEMPTS'],
      ['RETRY_DEFAULT_MAX_DELAY_MS', 'RETRY_MAX_DELAY_MS'],
    ];
    for (const [defaultKey, maxKey] of pairs) {
      if ((env[defaultKey] as number) > (env[maxKey] as number)) {
        ctx.addIssue({ code: 'custom', path: [defaultKey], message: `must not exceed ${maxKey}` });
      }
    }
    env.SECRETS_KEYS.forEach((entry, index) => {
      const [id, key] = entry.split(':');
      if (!id || !key || Buffer.from(key, 'base64').length !== 32) {
        ctx.addIssue({
          code: 'custom',
          path: ['SECRETS_KEYS', index],
          message: 'each key must be id:base64 of 32 bytes',
        });
      }
    });
    if (env.JWT_JWKS !== undefined) {
      try {
        const parsed = JSON.parse(env.JWT_JWKS) as { keys?: unknown };
        if (!Array.isArray(parsed.keys)) throw new Error('no keys');
      } catch {
        ctx.addIssue({
          code: 'custom',
          path: ['JWT_JWKS'],
          message: 'must be a JSON JWK set ({"keys":[...]})',
        });
      }
    }
    if (env.FILES_STORE === 's3' && env.FILES_S3_BUCKET === undefined) {
      ctx.addIssue({ code: 'custom', path: ['FILES_S3_BUCKET'], message: 'required when FILES_STORE=s3' });
    }
    if (env.ANCHOR_INTERVAL_MS !== undefined) {
      for (const key of ['ANCHOR_FILE', 'ANCHOR_KEY_FILE'] as const) {
        if (env[key] === undefined) {
          ctx.addIssue({ code: 'custom', path: [key], message: 'required when ANCHOR_INTERVAL_MS is set' });
        }
      }
    }
    if (env.SANDBOX_IMAGES.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['SANDBOX_IMAGES'], message: 'must name at least one image' });
    }
  });

/** JWT_JWKS once checked: the public keys, as `jose`'s local key set takes them. */
interface JwkSet {
  readonly keys: readonly Record<string, unknown>[];
}

/**
 * The configuration, parsed once at start-up from the process environment and shaped for its
 * readers: the one place that knows variable names. Only the entry point reads `process.env`;
 * everything else receives the slice it needs.
 */
/** Every variable the product reads: what a deployment (the compose file) must be able to pass. */
export const environmentVariables: readonly string[] = Object.keys(environmentSchema.shape);

export const configSchema = environmentSchema.transform((e) => {
  const sandbox: SandboxPolicy = {
    allowedImages: e.SANDBOX_IMAGES,
    ...(e.SANDBOX_RUNTIME === undefined ? {} : { runtime: e.SANDBOX_RUNTIME }),
    user: e.SANDBOX_USER,
    defaults: {
      memoryBytes: e.SANDBOX_DEFAULT_MEMORY_MB * mebibyte,
      cpus: e.SANDBOX_DEFAULT_CPUS,
      pids: e.SANDBOX_DEFAULT_PIDS,
      timeoutMs: e.SANDBOX_DEFAULT_TIMEOUT_MS,
    },
    maxima: {
      memoryBytes: e.SANDBOX_MAX_MEMORY_MB * mebibyte,
      cpus: e.SANDBOX_MAX_CPUS,
      pids: e.SANDBOX_MAX_PIDS,
      timeoutMs: e.SANDBOX_MAX_TIMEOUT_MS,
    },
    outputLimitBytes: e.SANDBOX_OUTPUT_LIMIT_BYTES,
    tmpfsBytes: e.SANDBOX_TMPFS_MB * mebibyte,
    warmPoolSize: e.SANDBOX_WARM_POOL_SIZE,
    files: {
      maxInputBytes: e.SANDBOX_MAX_INPUT_MB * mebibyte,
      outputsTmpfsBytes: e.SANDBOX_OUTPUTS_MB * mebibyte,
      artifactMaxBytes: e.ARTIFACT_MAX_MB * mebibyte,
      artifactMaxCount: e.ARTIFACT_MAX_COUNT,
    },
    pullMissing: e.SANDBOX_PULL_MISSING,
    ...(e.SANDBOX_REGISTRY_AUTH === undefined ? {} : { registryAuth: e.SANDBOX_REGISTRY_AUTH }),
    retry: {
      defaults: {
        maxAttempts: e.RETRY_DEFAULT_MAX_ATTEMPTS,
        backoff: {
          initialMs: e.RETRY_DEFAULT_INITIAL_MS,
          multiplier: e.RETRY_DEFAULT_MULTIPLIER,
          maxMs: e.RETRY_DEFAULT_MAX_DELAY_MS,
          jitter: e.RETRY_DEFAULT_JITTER,
        },
        on: e.RETRY_DEFAULT_ON,
      },
      maxima: { maxAttempts: e.RETRY_MAX_ATTEMPTS, maxDelayMs: e.RETRY_MAX_DELAY_MS },
    },
  };
  return {
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    queuePrefix: e.QUEUE_PREFIX,
    dockerHost: e.DOCKER_HOST,
    http: { port: e.PORT, host: e.HOST },
    ...(e.METRICS_PORT === undefined ? {} : { metrics: { port: e.METRICS_PORT, host: e.HOST } }),
    auth: {
      ...(e.JWT_SECRET === undefined ? {} : { jwtSecret: e.JWT_SECRET }),
      ...(e.JWT_ISSUER === undefined ? {} : { issuer: e.JWT_ISSUER }),
      ...(e.JWT_AUDIENCE === undefined ? {} : { audience: e.JWT_AUDIENCE }),
      // Its shape was checked above; the keys themselves are jose's to judge.
      ...(e.JWT_JWKS === undefined ? {} : { jwks: JSON.parse(e.JWT_JWKS) as JwkSet }),
      ...(e.JWT_JWKS_URL === undefined ? {} : { jwksUrl: e.JWT_JWKS_URL }),
      clockToleranceSeconds: e.JWT_CLOCK_TOLERANCE_SECONDS,
      // Longest lifetime a token may claim (exp - iat, or exp - now without iat).
      maxTokenAgeSeconds: e.JWT_MAX_TOKEN_AGE_SECONDS,
      tenantClaim: e.JWT_TENANT_CLAIM,
    },
    corsOrigins: e.CORS_ORIGINS,
    rateLimit: {
      windowSeconds: e.RATE_LIMIT_WINDOW_SECONDS,
      perSubject: e.RATE_LIMIT_PER_SUBJECT,
      perTenant: e.RATE_LIMIT_PER_TENANT,
      perAddressUnauthenticated: e.RATE_LIMIT_PER_ADDRESS_UNAUTHENTICATED,
    },
    // Reverse proxies in front of the API whose X-Forwarded-For is believed.
    trustProxy: e.TRUST_PROXY,
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    maxBodyBytes: e.MAX_BODY_BYTES,
    // Secret-encryption keys, the first one active.
    secretKeys: e.SECRETS_KEYS.map((entry) => {
      const [id = '', key = ''] = entry.split(':');
      return { id, key: Buffer.from(key, 'base64') };
    }),
    sandbox,
    files: {
      maxUploadBytes: e.FILES_MAX_UPLOAD_MB * mebibyte,
      store:
        e.FILES_STORE === 's3'
          ? {
              kind: 's3' as const,
              bucket: e.FILES_S3_BUCKET ?? '',
              region: e.FILES_S3_REGION,
              prefix: e.FILES_S3_PREFIX,
              forcePathStyle: e.FILES_S3_FORCE_PATH_STYLE,
              ...(e.FILES_S3_ENDPOINT === undefined ? {} : { endpoint: e.FILES_S3_ENDPOINT }),
            }
          : { kind: 'postgres' as const },
    },
    workerConcurrency: e.WORKER_CONCURRENCY,
    tenantMaxRunning: e.TENANT_MAX_RUNNING,
    workerShutdownGraceMs: e.WORKER_SHUTDOWN_GRACE_MS,
    workerLeaseMs: e.WORKER_LEASE_MS,
    reconcileIntervalMs: e.RECONCILE_INTERVAL_MS,
    // The dispatcher's anchor timer; absent: no anchors written by the product itself.
    ...(e.ANCHOR_INTERVAL_MS !== undefined && e.ANCHOR_FILE !== undefined && e.ANCHOR_KEY_FILE !== undefined
      ? { anchor: { intervalMs: e.ANCHOR_INTERVAL_MS, file: e.ANCHOR_FILE, keyFile: e.ANCHOR_KEY_FILE } }
      : {}),
    // Webhook deliveries: where they may go, how long one may take, how long a failing one is retried.
    webhooks: {
      allowPrivate: e.WEBHOOK_ALLOW_PRIVATE,
      timeoutMs: e.WEBHOOK_TIMEOUT_MS,
      retryForMs: e.WEBHOOK_RETRY_FOR_MS,
      retentionMs: e.WEBHOOK_RETENTION_MS,
    },
    logLevel: e.LOG_LEVEL,
    // Libraries whose calls become spans when traces are exported.
    autoInstrument: autoInstrumentationSchema.options.filter(
      (name) => !e.OTEL_NODE_DISABLED_INSTRUMENTATIONS.includes(name),
    ),
    ...(e.OTEL_EXPORTER_OTLP_ENDPOINT === undefined
      ? {}
      : { otlpEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/$/, '') }),
  };
});

/** Operator policy for sandboxes: what the worker and the API's clamping both read. */
export interface SandboxPolicy {
  readonly allowedImages: readonly string[];
  readonly runtime?: string;
  readonly user: string;
  readonly defaults: {
    readonly memoryBytes: number;
    readonly cpus: number;
    readonly pids: number;
    readonly timeoutMs: number;
  };
  readonly maxima: {
    readonly memoryBytes: number;
    readonly cpus: number;
    readonly pids: number;
    readonly timeoutMs: number;
  };
  readonly outputLimitBytes: number;
  readonly tmpfsBytes: number;
  /** Containers kept started ahead per sandbox profile (see workers/sandbox/warm-pool.ts); absent or 0: none. */
  readonly warmPoolSize?: number;
  /** Pull an allowed image the engine lacks; absent or false: refuse the job with image-missing. */
  readonly pullMissing?: boolean;
  /** Credentials for those pulls. */
  readonly registryAuth?: RegistryAuth;
  /** Retry defaults and maxima; absent: `defaultRetryLimits`. */
  readonly retry?: RetryLimits;
  /** Caps on uploaded inputs and collected outputs; absent: `defaultFileLimits`. */
  readonly files?: FileLimits;
}

/** How much a job may take in and give back as files. */
export interface FileLimits {
  /** Total bytes of uploaded inputs one job may name. */
  readonly maxInputBytes: number;
  /** Size of the /out tmpfs: a bound on everything a job can leave there. */
  readonly outputsTmpfsBytes: number;
  readonly artifactMaxBytes: number;
  readonly artifactMaxCount: number;
}

export const defaultFileLimits: FileLimits = {
  maxInputBytes: 32 * 1024 * 1024,
  outputsTmpfsBytes: 64 * 1024 * 1024,
  artifactMaxBytes: 16 * 1024 * 1024,
  artifactMaxCount: 32,
};

/** The operator's retry policy: what a job gets when it asks for nothing, and what it may never exceed. */
export interface RetryLimits {
  readonly defaults: RetryPolicy;
  readonly maxima: { readonly maxAttempts: number; readonly maxDelayMs: number };
}

export const defaultRetryLimits: RetryLimits = {
  defaults: {
    maxAttempts: 3,
    backoff: { initialMs: 1_000, multiplier: 2, maxMs: 60_000, jitter: 0.2 },
    on: ['abandoned', 'sandbox-error'],
  },
  maxima: { maxAttempts: 10, maxDelayMs: 3_600_000 },
};
