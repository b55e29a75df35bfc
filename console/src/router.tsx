import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';

/** Every page lives under this path; the API answers index.html for any of them (deep links). */
export const basePath = '/console';

export interface Location {
  /** The path inside the console: `/jobs`, `/jobs/<id>`. */
  readonly path: string;
  readonly query: URLSearchParams;
}

const navigationEvent = 'omni:navigate';

function current(): Location {
  const { pathname, search } = window.location;
  const inside = pathname.startsWith(basePath) ? pathname.slice(basePath.length) : pathname;
  return { path: inside.replace(/\/+$/, '') || '/', query: new URLSearchParams(search) };
}

/** The console's own address for a path inside it and a query. */
export function href(path: string, query?: URLSearchParams | Record<string, string>): string {
  const search = query ? new URLSearchParams(query).toString() : '';
  return `${basePath}${path}${search ? `?${search}` : ''}`;
}

/** Moves to another page of the console without a reload; `replace` leaves no history entry. */
export function navigate(to: string, options: { readonly replace?: boolean } = {}): void {
  if (options.replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  window.dispatchEvent(new Event(navigationEvent));
}

/** The current location, re-rendering on back/forward and on navigate(). */
export function useLocation(): Location {
  const [location, setLocation] = useState(current);
  useEffect(() => {
    const update = () => setLocation(current());
    window.addEventListener('popstate', update);
    window.addEventListener(navigationEvent, update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener(navigationEvent, update);
    };
  }, []);
  return location;
}

/** A link inside the console: a real href (open in a new tab works), followed without a reload. */
export function Link(props: { readonly to: string; readonly class?: string; readonly children: ComponentChildren }) {
  const onClick = (event: MouseEvent) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(props.to);
  };
  return (
    <a href={props.to} onClick={onClick} {...(props.class ? { class: props.class } : {})}>
      {props.children}
    </a>
  );
}
