// The bearer token lives in this tab's sessionStorage only: never in a cookie (no request carries
// it by itself), never in localStorage (it ends with the tab), never in a URL the server sees.
const storageKey = 'omni.console.token';

/**
 * Takes a token from a `#token=…` link (the fragment never reaches the server) into this tab's
 * session and removes it from the address bar and the history at once.
 */
export function takeTokenFromFragment(): void {
  const match = /^#token=([^&]+)/.exec(window.location.hash);
  if (!match?.[1]) return;
  window.sessionStorage.setItem(storageKey, decodeURIComponent(match[1]));
  window.history.replaceState(window.history.state, '', window.location.pathname + window.location.search);
}

export const storedToken = (): string | undefined => window.sessionStorage.getItem(storageKey) ?? undefined;

export const storeToken = (token: string): void => window.sessionStorage.setItem(storageKey, token);

export const forgetToken = (): void => window.sessionStorage.removeItem(storageKey);
