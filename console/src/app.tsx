// The console: signed in or not, then the shell (skip link, header with the screens'
// links, theme toggle, account) around the routed screen.

import { useEffect, useMemo, useState } from "preact/hooks";
import { ErrorBoundary, LocationProvider, Route, Router, useLocation } from "preact-iso";
import { onUnauthorized } from "./api/http";
import { currentPrincipal, signOut, type Principal } from "./api/session";
import { AuthContext, atLeast, useAuth } from "./auth";
import { ErrorNotice } from "./components/ErrorNotice";
import { Icon } from "./components/Icon";
import { SCREENS, sectionOf } from "./nav";
import { NotFound } from "./screens/notfound/NotFound";
import { SignIn } from "./screens/signin/SignIn";
import { nextTheme, storedTheme, applyTheme, type ThemeChoice } from "./theme";

type State =
  | { phase: "loading" }
  | { phase: "failed"; error: unknown }
  | { phase: "signed-out"; notice?: string }
  | { phase: "signed-in"; principal: Principal };

export function App() {
  const [state, setState] = useState<State>({ phase: "loading" });
  const load = (): void => {
    currentPrincipal().then(
      (principal) => setState(principal ? { phase: "signed-in", principal } : { phase: "signed-out" }),
      (error: unknown) => setState({ phase: "failed", error }),
    );
  };
  useEffect(load, []);
  useEffect(
    () => onUnauthorized(() => setState({ phase: "signed-out", notice: "Your session has ended: sign in again." })),
    [],
  );
  const auth = useMemo(
    () =>
      state.phase === "signed-in"
        ? {
            principal: state.principal,
            signOut: () => {
              signOut().finally(() => setState({ phase: "signed-out", notice: "Signed out." }));
            },
          }
        : null,
    [state],
  );

  if (state.phase === "loading") return <p class="splash">Loading…</p>;
  if (state.phase === "failed")
    return (
      <main class="splash" id="main">
        <ErrorNotice error={state.error} title="The console could not reach the server" />
        <button type="button" class="button" onClick={load}>
          Try again
        </button>
      </main>
    );
  if (state.phase === "signed-out" || !auth)
    return (
      <SignIn
        {...(state.phase === "signed-out" && state.notice ? { notice: state.notice } : {})}
        onSignedIn={(principal) => setState({ phase: "signed-in", principal })}
      />
    );
  return (
    <AuthContext.Provider value={auth}>
      <LocationProvider>
        <Shell />
      </LocationProvider>
    </AuthContext.Provider>
  );
}

function Home() {
  const { principal } = useAuth();
  const { route } = useLocation();
  const first = SCREENS.find((s) => s.nav && atLeast(principal.role, s.role));
  useEffect(() => {
    if (first) route(first.path, true);
  }, [first]);
  return null;
}

function Forbidden() {
  return (
    <section class="screen">
      <h1>Not allowed</h1>
      <p>Your role may not open this screen.</p>
    </section>
  );
}

function Shell() {
  const { principal, signOut } = useAuth();
  const { path } = useLocation();
  const [menuOpen, setMenuOpen] = useState(false);
  const [theme, setTheme] = useState<ThemeChoice>(storedTheme());
  const current = sectionOf(path);
  const links = SCREENS.filter((s) => s.nav && atLeast(principal.role, s.role));
  useEffect(() => setMenuOpen(false), [path]);
  useEffect(() => {
    const screen = SCREENS.find((s) => s.path === path) ?? current;
    document.title = screen ? `${screen.title} · Agio` : "Agio";
  }, [path]);
  const switchTheme = (): void => {
    const next = nextTheme(theme);
    applyTheme(next);
    setTheme(next);
  };
  const themeIcon = theme === "dark" ? "moon" : theme === "light" ? "sun" : "system";
  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href="/">
          Agio
        </a>
        <button
          type="button"
          class="button ghost menu-button"
          aria-expanded={menuOpen}
          aria-controls="primary-nav"
          onClick={() => setMenuOpen(!menuOpen)}
        >
          <Icon name="menu" /> Menu
        </button>
        <nav id="primary-nav" class={menuOpen ? "primary-nav open" : "primary-nav"} aria-label="Screens">
          <ul>
            {links.map((s) => (
              <li key={s.path}>
                <a href={s.path} aria-current={current === s ? "page" : undefined}>
                  <Icon name={s.icon} /> {s.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="topbar-end">
          <button
            type="button"
            class="button ghost"
            onClick={switchTheme}
            aria-label={`Theme: ${theme}. Switch to ${nextTheme(theme)}`}
            title={`Theme: ${theme}`}
          >
            <Icon name={themeIcon} />
            <span class="theme-name">{theme}</span>
          </button>
          <span class="who" title={principal.user_id}>
            {principal.username} <span class="muted">({principal.role})</span>
          </span>
          {principal.authenticated_by !== "local" ? (
            <button type="button" class="button ghost" onClick={signOut}>
              Sign out
            </button>
          ) : null}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <ErrorBoundary>
          <Router>
            <Route path="/" component={Home} />
            {SCREENS.map((s) => (
              <Route key={s.path} path={s.path} component={atLeast(principal.role, s.role) ? s.component : Forbidden} />
            ))}
            <Route default component={NotFound} />
          </Router>
        </ErrorBoundary>
      </main>
    </>
  );
}
