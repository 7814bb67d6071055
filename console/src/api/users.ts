// `/api/users` and `/api/keys` (agio/api/schemas/auth.py): users for admins; API keys,
// whose plaintext is in the create response only.

import { get, post, request } from "./http";
import type { Page, Role } from "./types";

export interface User {
  id: string;
  username: string;
  role: Role;
  disabled: boolean;
  has_password: boolean;
  created_at: string;
  updated_at: string;
}

export interface UserCreate {
  username: string;
  password?: string;
  role: Role;
}

export interface UserUpdate {
  role?: Role;
  disabled?: boolean;
  password?: string;
}

export interface ApiKey {
  id: string;
  user_id: string;
  name: string;
  prefix: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  active: boolean;
}

export interface ApiKeyCreated extends ApiKey {
  /** The key itself: in this response only. */
  key: string;
}

export interface ApiKeyCreate {
  name: string;
  expires_in_days?: number;
  user_id?: string;
}

export const listUsers = (offset: number, limit: number, signal?: AbortSignal): Promise<Page<User>> =>
  get("/api/users", { offset, limit }, signal);

export const createUser = (body: UserCreate): Promise<User> => post("/api/users", body);

export const updateUser = (id: string, body: UserUpdate): Promise<User> =>
  request("PATCH", `/api/users/${encodeURIComponent(id)}`, { body });

export const listKeys = (
  query: { user_id?: string; offset: number; limit: number },
  signal?: AbortSignal,
): Promise<Page<ApiKey>> => get("/api/keys", query, signal);

export const createKey = (body: ApiKeyCreate): Promise<ApiKeyCreated> => post("/api/keys", body);

export const revokeKey = (id: string): Promise<void> =>
  request("DELETE", `/api/keys/${encodeURIComponent(id)}`);
