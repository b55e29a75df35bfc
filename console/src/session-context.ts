import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Api } from './api.ts';
import type { Me } from './types.ts';

export interface Session {
  readonly api: Api;
  readonly me: Me;
  /** Whether the token holds `scope` (`admin` holds every one): what the page may offer. */
  can(scope: string): boolean;
}

export const SessionContext = createContext<Session | undefined>(undefined);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in console');
  return session;
}

export const sessionFor = (api: Api, me: Me): Session => ({
  api,
  me,
  can: (scope) => me.scopes.includes(scope) || me.scopes.includes('admin'),
});
