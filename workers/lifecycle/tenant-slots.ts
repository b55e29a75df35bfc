import type { Redis } from 'ioredis';

/**
 * acquire-tenant-slot.lua
 *   KEYS[1]  sorted set of the tenant's running attempts (member: message id, score: lease expiry, ms)
 *   ARGV[1]  message id; ARGV[2] the tenant's limit; ARGV[3] lease in ms
 *   Returns  1: the slot is held (newly, or renewed for a holder); 0: the tenant is at its limit.
 * Expired members (a worker that died holding a slot) are dropped first, so slots never leak.
 * The server's clock is the only one used, so workers with skewed clocks agree.
 */
const acquireScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
if held or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 2)
  return 1
end
return 0
`;

export interface TenantSlotsOptions {
  readonly redis: Redis;
  readonly prefix: string;
  /** Attempts one tenant may run at once, across every worker. */
  readonly limit: number;
  /** A holder renews its slot every third of this; a dead holder's slot frees after it. */
  readonly leaseMs?: number;
}

export interface TenantSlot {
  release(): Promise<void>;
}

/**
 * Per-tenant concurrency limits shared by all workers through Redis. Chosen over per-tenant
 * queues: one BullMQ queue keeps priorities, delays and deterministic ids as they are, and a
 * worker that finds a tenant at its limit puts the message back with a short delay, so the next
 * tenant's message behind it is reached — one tenant's flood cannot starve another.
 */
/** The script as an ioredis command: sent by its SHA (EVALSHA), its text only when Redis lacks it. */
const acquireCommand = 'omniAcquireTenantSlot';
type WithAcquireCommand = Redis & {
  [acquireCommand](key: string, member: string, limit: number, leaseMs: number): Promise<number>;
};

export function createTenantSlots(options: TenantSlotsOptions) {
  const leaseMs = options.leaseMs ?? 30_000;
  const key = (tenant: string) => `${options.prefix}:tenant-running:${tenant}`;
  // Every message runs it twice or more: EVAL would send (and Redis hash) the whole script each time.
  options.redis.defineCommand(acquireCommand, { numberOfKeys: 1, lua: acquireScript });
  const redis = options.redis as WithAcquireCommand;
  const run = (tenant: string, member: string) =>
    redis[acquireCommand](key(tenant), member, options.limit, leaseMs);
  return {
    /** Takes one of the tenant's slots for this message, or returns undefined at the limit. */
    async acquire(tenant: string, member: string): Promise<TenantSlot | undefined> {
      if ((await run(tenant, member)) !== 1) return undefined;
      const renew = setInterval(() => void run(tenant, member).catch(() => undefined), leaseMs / 3);
      renew.unref();
      return {
        async release() {
          clearInterval(renew);
          await options.redis.zrem(key(tenant), member).catch(() => undefined);
        },
      };
    },
  };
}

export type TenantSlots = ReturnType<typeof createTenantSlots>;
