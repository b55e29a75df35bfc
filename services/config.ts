import type { FilesConfig } from '../files/configured-blob-store.ts';
import {
  type AutoInstrumentation,
  autoInstrumentationSchema,
  type Environment,
  environmentSchema,
  type SandboxPolicy,
} from '../schemas/config.schema.ts';

const mebibyte = 1024 * 1024;

export interface Config {
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly queuePrefix: string;
  readonly dockerHost: string;
  readonly http: { readonly port: number; readonly host: string };
  readonly auth: {
    readonly jwtSecret?: string;
    readonly issuer?: string;
    readonly audience?: string;
    readonly jwks?: { readonly keys: readonly Record<string, unknown>[] };
    readonly jwksUrl?: string;
    readonly clockToleranceSeconds: number;
    /** Longest lifetime a token may claim (exp - iat, or exp - now without iat). */
    readonly maxTokenAgeSeconds: number;
    readonly tenantClaim: string;
  };
  readonly corsOrigins: readonly string[];
  readonly rateLimit: {
    readonly windowSeconds: number;
    readonly perSubject: number;
    readonly perTenant: number;
    readonly perAddressUnauthenticated: number;
  };
  /** Reverse proxies in front of the API whose X-Forwarded-For is believed. */
  readonly trustProxy: number;
  readonly requestTimeoutMs: number;
  readonly maxBodyBytes: number;
  /** Secret-encryption keys, the first one active. */
  readonly secretKeys: readonly { readonly id: string; readonly key: Buffer }[];
  readonly sandbox: SandboxPolicy;
  readonly files: FilesConfig;
  readonly workerConcurrency: number;
  readonly tenantMaxRunning: number;
  readonly workerShutdownGraceMs: number;
  readonly workerLeaseMs: number;
  readonly reconcileIntervalMs: number;
  /** The dispatcher's anchor timer (ANCHOR_*); absent: no anchors written by the product itself. */
  readonly anchor?: { readonly intervalMs: number; readonly file: string; readonly keyFile: string };
  readonly logLevel: Environment['LOG_LEVEL'];
  readonly otlpEndpoint?: string;
  /** Libraries whose calls become spans when traces are exported. */
  readonly autoInstrument: readonly AutoInstrumentation[];
}

/** Configuration that failed validation; the message names every bad or missing variable. */
export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Parses the environment once; the only place that knows variable names. */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Config {
  // An empty variable means "not set", as in most shells' and compose files' habits.
  const present = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const parsed = environmentSchema.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join('.') || '(environment)'}: ${issue.message}`),
    );
  }
  const e = parsed.data;
  return {
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    queuePrefix: e.QUEUE_PREFIX,
    dockerHost: e.DOCKER_HOST,
    http: { port: e.PORT, host: e.HOST },
    auth: {
      ...(e.JWT_SECRET === undefined ? {} : { jwtSecret: e.JWT_SECRET }),
      ...(e.JWT_ISSUER === undefined ? {} : { issuer: e.JWT_ISSUER }),
      ...(e.JWT_AUDIENCE === undefined ? {} : { audience: e.JWT_AUDIENCE }),
      ...(e.JWT_JWKS === undefined ? {} : { jwks: JSON.parse(e.JWT_JWKS) }),
      ...(e.JWT_JWKS_URL === undefined ? {} : { jwksUrl: e.JWT_JWKS_URL }),
      clockToleranceSeconds: e.JWT_CLOCK_TOLERANCE_SECONDS,
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
    trustProxy: e.TRUST_PROXY,
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    maxBodyBytes: e.MAX_BODY_BYTES,
    secretKeys: e.SECRETS_KEYS.map((entry) => {
      const [id = '', key = ''] = entry.split(':');
      return { id, key: Buffer.from(key, 'base64') };
    }),
    files: {
      maxUploadBytes: e.FILES_MAX_UPLOAD_MB * mebibyte,
      store:
        e.FILES_STORE === 's3'
          ? {
              kind: 's3',
              bucket: e.FILES_S3_BUCKET ?? '',
              region: e.FILES_S3_REGION,
              prefix: e.FILES_S3_PREFIX,
              forcePathStyle: e.FILES_S3_FORCE_PATH_STYLE,
              ...(e.FILES_S3_ENDPOINT === undefined ? {} : { endpoint: e.FILES_S3_ENDPOINT }),
            }
          : { kind: 'postgres' },
    },
    sandbox: {
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
    },
    workerConcurrency: e.WORKER_CONCURRENCY,
    tenantMaxRunning: e.TENANT_MAX_RUNNING,
    workerShutdownGraceMs: e.WORKER_SHUTDOWN_GRACE_MS,
    workerLeaseMs: e.WORKER_LEASE_MS,
    reconcileIntervalMs: e.RECONCILE_INTERVAL_MS,
    ...(e.ANCHOR_INTERVAL_MS !== undefined && e.ANCHOR_FILE !== undefined && e.ANCHOR_KEY_FILE !== undefined
      ? { anchor: { intervalMs: e.ANCHOR_INTERVAL_MS, file: e.ANCHOR_FILE, keyFile: e.ANCHOR_KEY_FILE } }
      : {}),
    logLevel: e.LOG_LEVEL,
    autoInstrument: autoInstrumentationSchema.options.filter(
      (name) => !e.OTEL_NODE_DISABLED_INSTRUMENTATIONS.includes(name),
    ),
    ...(e.OTEL_EXPORTER_OTLP_ENDPOINT === undefined
      ? {}
      : { otlpEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/$/, '') }),
  };
}
