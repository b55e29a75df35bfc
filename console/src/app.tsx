import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, createApi } from './api.ts';
import { EventsPage } from './pages/events-page.tsx';
import { HealthPage } from './pages/health-page.tsx';
import { JobAtPage } from './pages/job-at-page.tsx';
import { JobPage } from './pages/job-page.tsx';
import { JobsPage } from './pages/jobs-page.tsx';
import { SchedulesPage } from './pages/schedules-page.tsx';
import { SignInPage } from './pages/sign-in-page.tsx';
import { href, Link, navigate, useLocation } from './router.tsx';
import { forgetToken, storedToken, storeToken } from './session.ts';
import { type Session, SessionContext, sessionFor, useSession } from './session-context.ts';
import type { Me } from './types.ts';

type SignIn =
  | { readonly state: 'signed-out'; readonly message?: string }
  | { readonly state: 'checking'; readonly token: string }
  | { readonly state: 'signed-in'; readonly session: Session };

/** The console: signs in with a token, then routes to the page the address names. */
export function App() {
  const initial = storedToken();
  const [signIn, setSignIn] = useState<SignIn>(
    initial ? { state: 'checking', token: initial } : { state: 'signed-out' },
  );
  const signOut = (message?: string) => {
    forgetToken();
    setSignIn({ state: 'signed-out', ...(message ? { message } : {}) });
  };
  useEffect(() => {
    if (signIn.state !== 'checking') return;
    const api = createApi(signIn.token, () => signOut('The token was refused (expired or invalid): sign in again.'));
    api
      .get<Me>('/v1/me')
      .then((me) => {
        storeToken(signIn.token);
        setSignIn({ state: 'signed-in', session: sessionFor(api, me) });
      })
      .catch((error: unknown) => {
        forgetToken();
        setSignIn({
          state: 'signed-out',
          message: error instanceof ApiError ? `Sign-in refused: ${error.message}` : `Sign-in failed: ${String(error)}`,
        });
      });
  }, [signIn]);

  if (signIn.state === 'checking') return <p class="notice">Checking the token…</p>;
  if (signIn.state === 'signed-out')
    return <SignInPage {...(signIn.message ? { message: signIn.message } : {})} onToken={(token) => setSignIn({ state: 'checking', token })} />;
  return (
    <SessionContext.Provider value={signIn.session}>
      <Shell onSignOut={() => signOut()} />
    </SessionContext.Provider>
  );
}

function Shell(props: { readonly onSignOut: () => void }) {
  const { me, can } = useSession();
  const location = useLocation();
  const section = location.path.split('/')[1] ?? '';
  useEffect(() => {
    if (location.path === '/') navigate(href('/jobs'), { replace: true });
  }, [location.path]);
  const page = useMemo(() => {
    const jobMatch = /^\/jobs\/([^/]+)$/.exec(location.path);
    const jobAtMatch = /^\/jobs\/([^/]+)\/at\/(\d{1,16})$/.exec(location.path);
    if (location.path === '/jobs') return <JobsPage query={location.query} />;
    if (jobAtMatch?.[1] && jobAtMatch[2])
      return <JobAtPage id={decodeURIComponent(jobAtMatch[1])} position={jobAtMatch[2]} />;
    if (jobMatch?.[1]) return <JobPage id={decodeURIComponent(jobMatch[1])} />;
    if (location.path === '/schedules') return <SchedulesPage query={location.query} />;
    if (location.path === '/events') return can('admin') ? <EventsPage query={location.query} /> : <Forbidden scope="admin" />;
    if (location.path === '/health') return can('admin') ? <HealthPage /> : <Forbidden scope="admin" />;
    if (location.path === '/') return null;
    return <p class="notice">No such page: {location.path}</p>;
  }, [location, can]);
  return (
    <>
      <header class="top">
        <strong class="brand">omni</strong>
        <nav>
          <Link to={href('/jobs')} class={section === 'jobs' ? 'active' : ''}>
            Jobs
          </Link>
          <Link to={href('/schedules')} class={section === 'schedules' ? 'active' : ''}>
            Schedules
          </Link>
          {can('admin') && (
            <Link to={href('/events')} class={section === 'events' ? 'active' : ''}>
              Event log
            </Link>
          )}
          {can('admin') && (
            <Link to={href('/health')} class={section === 'health' ? 'active' : ''}>
              Queue health
            </Link>
          )}
        </nav>
        <div class="identity" data-testid="identity">
          <span data-testid="subject">{me.subject}</span>
          <span class="muted">
            tenant <span data-testid="tenant">{me.tenant}</span>
          </span>
          <span class="scopes" data-testid="scopes">
            {me.scopes.join(' ')}
          </span>
          <button type="button" onClick={props.onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main>{page}</main>
    </>
  );
}

function Forbidden(props: { readonly scope: string }) {
  return <p class="notice">This page needs the {props.scope} scope, which this token does not hold.</p>;
}
