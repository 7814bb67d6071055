// Sign in with a username and password, or with an API key (POST /api/auth/session).

import { useState } from "preact/hooks";
import { signIn, type Credentials, type Principal } from "../../api/session";
import { ErrorNotice } from "../../components/ErrorNotice";

type Method = "password" | "key";

export function SignIn(props: { notice?: string; onSignedIn: (principal: Principal) => void }) {
  const [method, setMethod] = useState<Method>("password");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [apiKey, setApiKey] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const credentials: Credentials =
      method === "password" ? { username: username.trim(), password } : { api_key: apiKey.trim() };
    try {
      props.onSignedIn(await signIn(credentials));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <main id="main" class="signin">
      <form class="card signin-card" onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">Sign in to Agio</h1>
        {props.notice ? <p class="notice">{props.notice}</p> : null}
        <fieldset class="segmented">
          <legend class="visually-hidden">Sign in with</legend>
          <label>
            <input
              type="radio"
              name="method"
              value="password"
              checked={method === "password"}
              onChange={() => setMethod("password")}
            />
            Username and password
          </label>
          <label>
            <input type="radio" name="method" value="key" checked={method === "key"} onChange={() => setMethod("key")} />
            API key
          </label>
        </fieldset>
        {method === "password" ? (
          <>
            <label class="field">
              <span>Username</span>
              <input
                name="username"
                autoComplete="username"
                required
                value={username}
                onInput={(e) => setUsername(e.currentTarget.value)}
              />
            </label>
            <label class="field">
              <span>Password</span>
              <input
                name="password"
                type="password"
                autoComplete="current-password"
                required
                value={password}
                onInput={(e) => setPassword(e.currentTarget.value)}
              />
            </label>
          </>
        ) : (
          <label class="field">
            <span>API key</span>
            <input
              name="api_key"
              type="password"
              autoComplete="off"
              placeholder="agio_…"
              required
              value={apiKey}
              onInput={(e) => setApiKey(e.currentTarget.value)}
            />
            <small class="muted">
              The key <code>./scripts/serve</code> printed on its first start (also in <code>.agio/admin.key</code>), or
              one from <code>agio keys create</code>.
            </small>
          </label>
        )}
        <ErrorNotice error={error} title="Not signed in" />
        <button type="submit" class="button primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
