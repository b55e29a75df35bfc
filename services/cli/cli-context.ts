import { type ApiClient, createApiClient } from './api-client.ts';
import { CliError } from './cli-error.ts';
import { exitCodes } from './exit-codes.ts';
import type { Output } from './output.ts';

/** What every command gets: the two streams, the environment, and the API client on demand. */
export interface CliContext {
  /** stdout: the result only (an id, a table, JSON), so it can be piped or captured. */
  readonly out: Output;
  /** stderr: progress, status lines and diagnostics. */
  readonly err: Output;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The API client (OMNI_URL, OMNI_TOKEN), made when a command first talks to the API. */
  client(): ApiClient;
  /** What the process exits with; a command's action sets it. */
  exitCode: number;
}

/** The API a client command talks to: OMNI_URL (OMNI_API_URL also read), else the local default. */
export const apiUrlFrom = (env: CliContext['env']): string =>
  env.OMNI_URL || env.OMNI_API_URL || 'http://127.0.0.1:3000';

export function createCliContext(out: Output, err: Output, env: CliContext['env']): CliContext {
  let client: ApiClient | undefined;
  return {
    out,
    err,
    env,
    exitCode: exitCodes.ok,
    client() {
      if (client) return client;
      const token = env.OMNI_TOKEN;
      if (!token)
        throw new CliError(
          {
            title: 'no token',
            code: 'token-missing',
            detail:
              'set OMNI_TOKEN (`omni token` prints one where JWT_SECRET is known; npm start prints one)',
          },
          exitCodes.usage,
        );
      client = createApiClient({
        url: apiUrlFrom(env),
        token,
        onReconnect: (attempt, lastEventId) =>
          err.write(
            `omni: the feed dropped; reconnecting (attempt ${attempt}${lastEventId === undefined ? '' : `, after ${lastEventId}`})\n`,
          ),
        ...(env.OMNI_RECONNECT_DELAY_MS && /^\d{1,6}$/.test(env.OMNI_RECONNECT_DELAY_MS)
          ? { reconnectDelayMs: Number(env.OMNI_RECONNECT_DELAY_MS) }
          : {}),
      });
      return client;
    },
  };
}
