import { useState } from 'preact/hooks';

/** Paste a bearer token (or open the `#token=` link `npm start` prints). */
export function SignInPage(props: { readonly message?: string; readonly onToken: (token: string) => void }) {
  const [token, setToken] = useState('');
  const submit = (event: Event) => {
    event.preventDefault();
    const trimmed = token.trim().replace(/^Bearer\s+/i, '');
    if (trimmed) props.onToken(trimmed);
  };
  return (
    <main class="sign-in">
      <h1>omni console</h1>
      {props.message && (
        <p class="error" role="alert">
          {props.message}
        </p>
      )}
      <form onSubmit={submit}>
        <label for="token">Bearer token</label>
        <textarea
          id="token"
          name="token"
          rows={5}
          autocomplete="off"
          spellcheck={false}
          value={token}
          onInput={(event) => setToken(event.currentTarget.value)}
        />
        <button type="submit">Sign in</button>
      </form>
      <p class="muted">
        The token stays in this tab (session storage) and is sent only in the Authorization header. `npm start`
        prints a link that signs in directly.
      </p>
    </main>
  );
}
