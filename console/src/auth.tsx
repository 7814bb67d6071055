import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Principal } from "./api/session";
import type { Role } from "./api/types";

export interface Auth {
  principal: Principal;
  signOut: () => void;
}

export const AuthContext = createContext<Auth | null>(null);

export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error("useAuth outside a signed-in console");
  return auth;
}

const RANK: Record<Role, number> = { viewer: 0, user: 1, admin: 2 };

/** Whether `role` has at least the rights of `needed`. */
export function atLeast(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed];
}
