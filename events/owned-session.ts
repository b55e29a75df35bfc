import pg from 'pg';

// Namespaces our advisory locks (first key) away from any other user of pg_advisory_lock.
export const advisoryLockNamespace = 0x6f6d6e69; // 'omni'

export interface OwnedSessionOptions {
  /** A direct connection: LISTEN and session advisory locks do not survive a transaction pooler. */
  readonly connectionString: string;
  readonly applicationName: string;
  /** Held for ownership; absent: every instance is active. */
  readonly lockKey?: string;
  /** Called on every `omni_events` notification, with its payload: the stream appended to. */
  readonly onNotification: (streamId: string) => void;
  /** Called each time this instance becomes active, before it reads (to resume from its checkpoint). */
  readonly onActive: () => Promise<void>;
  readonly onError?: (error: unknown) => void;
}

export interface OwnedSession {
  /** Connects (or reconnects) and tries for the lock; true while this instance is the active one. */
  ensureActive(): Promise<boolean>;
  isActive(): boolean;
  /** Ending the session releases the lock for a standby. */
  close(): Promise<void>;
}

/**
 * One dedicated session carrying LISTEN and, when asked, the advisory lock that makes one instance
 * of a reader active across all processes. Losing the session loses both: the instance steps down
 * and competes again on its next `ensureActive`, which opens a new session (the caller's loop is
 * the backoff). A terminated session reports through `onError` and never crashes the process.
 */
export function createOwnedSession(options: OwnedSessionOptions): OwnedSession {
  let session: pg.Client | undefined;
  let active = false;
  return {
    async ensureActive() {
      if (!session) {
        const client = new pg.Client({
          connectionString: options.connectionString,
          application_name: options.applicationName,
        });
        const lost = (error?: unknown) => {
          if (error) options.onError?.(error);
          if (session === client) {
            session = undefined;
            active = false;
          }
        };
        client.on('error', lost);
        client.on('end', () => lost());
        client.on('notification', (message) => options.onNotification(message.payload ?? ''));
        try {
          await client.connect();
          await client.query('listen omni_events');
        } catch (error) {
          // Half open (connected, not listening) would leak a session and miss notifications: the
          // next ensureActive starts over with a new one.
          await client.end().catch(() => undefined);
          throw error;
        }
        session = client;
      }
      if (!active) {
        if (options.lockKey === undefined) {
          active = true;
        } else {
          const { rows } = await session.query<{ locked: boolean }>(
            'select pg_try_advisory_lock($1, hashtext($2)) as locked',
            [advisoryLockNamespace, options.lockKey],
          );
          active = rows[0]?.locked === true;
        }
        if (active) await options.onActive();
      }
      return active;
    },
    isActive: () => active,
    async close() {
      await session?.end().catch(() => undefined);
    },
  };
}
