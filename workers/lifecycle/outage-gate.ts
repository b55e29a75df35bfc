import type { Logger } from 'pino';

/** The infrastructure a worker cannot run attempts without; an outage of one is never the job's failure. */
export type OutageDependency = 'docker' | 'postgres';

export interface OutageProbe {
  /** Where the dependency is (an engine socket, a database host), named in the log for operators. */
  readonly address: string;
  /** Resolves once the dependency answers; the gate bounds it with its own timeout. */
  check(): Promise<unknown>;
}

export interface OutageGateDeps {
  /** A dependency without a probe reopens after `backoff.maxMs`, since nothing can tell it answers. */
  readonly probes: Partial<Record<OutageDependency, OutageProbe>>;
  readonly logger: Logger;
  /** Delay between probes: doubles from `initialMs` up to `maxMs`. Default 250 ms → 2 s. */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** A probe that has not answered in this long has failed. Default 2 s. */
  readonly probeTimeoutMs?: number;
}

export interface OutageGate {
  /** A dependency failed to answer: the gate closes (once) until a probe of it succeeds. */
  report(dependency: OutageDependency, error: unknown): void;
  /** True while every dependency answers. */
  isOpen(): boolean;
  /** Resolves at once when open, else when the last outage ends (or the gate is stopped). */
  whenOpen(): Promise<void>;
  /** The dependencies currently down. */
  down(): readonly OutageDependency[];
  /** Called with false when the gate closes and with true when it reopens; returns an unsubscribe. */
  onChange(listener: (open: boolean) => void): () => void;
  /** Stops probing (shutdown); waiters are released. */
  stop(): void;
}

const labels: Record<OutageDependency, { readonly name: string; readonly action: string }> = {
  docker: {
    name: 'Docker engine',
    action: 'check that dockerd is running and that this worker can reach its socket',
  },
  postgres: {
    name: 'Postgres',
    action: 'check that the database server is running and reachable from this worker',
  },
};

interface Outage {
  readonly since: number;
  readonly error: unknown;
  timer?: NodeJS.Timeout;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && !error.message.includes(code)
      ? `${code}: ${error.message}`
      : error.message;
  }
  return String(error);
}

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A worker-wide switch for infrastructure outages. Whoever meets an unreachable dependency reports
 * it; the gate then tells its listeners (the BullMQ worker pauses fetching), probes the dependency
 * with backoff, and reopens once every dependency answers. One log line when it closes, one when
 * it reopens, however many attempts ran into the outage.
 */
export function createOutageGate(deps: OutageGateDeps): OutageGate {
  const { logger } = deps;
  const initialMs = deps.backoff?.initialMs ?? 250;
  const maxMs = deps.backoff?.maxMs ?? 2_000;
  const probeTimeoutMs = deps.probeTimeoutMs ?? 2_000;
  const outages = new Map<OutageDependency, Outage>();
  const listeners = new Set<(open: boolean) => void>();
  let waiters: Array<() => void> = [];
  let stopped = false;

  const notify = (open: boolean) => {
    for (const listener of listeners) {
      try {
        listener(open);
      } catch (error) {
        logger.error({ err: error }, 'outage gate listener failed');
      }
    }
  };

  const reopen = (dependency: OutageDependency) => {
    const outage = outages.get(dependency);
    if (!outage) return;
    clearTimeout(outage.timer);
    outages.delete(dependency);
    const address = deps.probes[dependency]?.address ?? 'its configured address';
    logger.info(
      { dependency, address, downMs: Date.now() - outage.since, stillDown: [...outages.keys()] },
      `${labels[dependency].name} at ${address} answers again; ${outages.size === 0 ? 'taking work again' : 'still waiting for the others'}`,
    );
    if (outages.size === 0) {
      const released = waiters;
      waiters = [];
      for (const resolve of released) resolve();
      notify(true);
    }
  };

  const probeLater = (dependency: OutageDependency, waitMs: number) => {
    const outage = outages.get(dependency);
    if (!outage || stopped) return;
    outage.timer = setTimeout(() => {
      const probe = deps.probes[dependency];
      if (!probe) {
        reopen(dependency);
        return;
      }
      withTimeout(
        Promise.resolve().then(() => probe.check()),
        probeTimeoutMs,
        labels[dependency].name,
      ).then(
        () => reopen(dependency),
        () => probeLater(dependency, Math.min(maxMs, waitMs * 2)),
      );
    }, waitMs);
    outage.timer.unref();
  };

  return {
    report(dependency, error) {
      if (stopped || outages.has(dependency)) return;
      const wasOpen = outages.size === 0;
      outages.set(dependency, { since: Date.now(), error });
      const address = deps.probes[dependency]?.address ?? 'its configured address';
      logger.error(
        { dependency, address, err: error },
        `${labels[dependency].name} unreachable at ${address} (${describe(error)}); not taking work until it answers: ${labels[dependency].action}`,
      );
      if (wasOpen) notify(false);
      probeLater(dependency, deps.probes[dependency] ? initialMs : maxMs);
    },
    isOpen: () => outages.size === 0,
    whenOpen: () =>
      outages.size === 0 || stopped
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiters.push(resolve)),
    down: () => [...outages.keys()],
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stop() {
      stopped = true;
      for (const outage of outages.values()) clearTimeout(outage.timer);
      const released = waiters;
      waiters = [];
      for (const resolve of released) resolve();
    },
  };
}
