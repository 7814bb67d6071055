// Browser sign-in (SPEC §23, issue 15 item 1): a server-side session behind an HttpOnly,
// SameSite=Strict cookie. The contract this client is written against:
//
//   POST   /api/auth/session  {"username", "password"} or {"api_key"}
//          → 200/201 {"csrf_token", ...the principal} and Set-Cookie
//   GET    /api/auth/session  → 200 {"csrf_token", ...the principal}; 401 without a session
//   DELETE /api/auth/session  (with X-CSRF-Token) → 204, the session revoked
//
// The principal's fields are those of GET /api/auth/me (user_id, username, role,
// permissions). The cookie itself is never visible to this code; the CSRF token is kept in
// memory only and sent as X-CSRF-Token on POST, PUT, PATCH and DELETE (agio/api/http.ts).
//
// With authentication turned off (AGIO_AUTH_DISABLED, loopback only) there is no session
// to open: GET /api/auth/me answers as the local admin, and the console uses that.

import { ApiError, request, setCsrfToken } from "./http";
import type { Role } from "./types";

export const SESSION_PATH = "/api/auth/session";

export interface Principal {
  user_id: string;
  username: string;
  role: Role;
  permissions: string[];
  /** "session" for a browser session; "local" with authentication turned off. */
  authenticated_by: string;
}

interface SessionBody {
  csrf_token?: string | null;
  user_id?: string;
  username?: string;
  role?: Role;
  permissions?: string[];
  authenticated_by?: string;
  user?: Partial<Principal>;
}

export type Credentials = { username: string; password: string } | { api_key: string };

function principalOf(body: SessionBody): Principal {
  const source = { ...body, ...(body.user ?? {}) };
  return {
    user_id: source.user_id ?? "",
    username: source.username ?? "",
    role: source.role ?? "viewer",
    permissions: source.permissions ?? [],
    authenticated_by: source.authenticated_by ?? "session",
  };
}

/** Open a session; remembers its CSRF token. */
export async function signIn(credentials: Credentials): Promise<Principal> {
  const body = await request<SessionBody>("POST", SESSION_PATH, { body: credentials, quiet401: true });
  setCsrfToken(body.csrf_token ?? null);
  return principalOf(body);
}

/** The signed-in principal, or null when the browser has no session. */
export async function currentPrincipal(): Promise<Principal | null> {
  try {
    const body = await request<SessionBody>("GET", SESSION_PATH, { quiet401: true });
    setCsrfToken(body.csrf_token ?? null);
    return principalOf(body);
  } catch (error) {
    if (!(error instanceof ApiError) || (error.status !== 401 && error.status !== 404)) throw error;
  }
  // no session: with authentication turned off the server still knows who we are
  try {
    const me = await request<SessionBody>("GET", "/api/auth/me", { quiet401: true });
    setCsrfToken(null);
    return principalOf(me);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

/** Revoke the session (its cookie is cleared by the server). */
export async function signOut(): Promise<void> {
  try {
    await request<void>("DELETE", SESSION_PATH, { quiet401: true });
  } finally {
    setCsrfToken(null);
  }
}
