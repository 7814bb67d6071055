// Every session the caller may see (an admin's: everyone's), and deleting one.

import { get, request } from "./http";
import type { Page, SessionSummary } from "./types";

export const listAllSessions = (
  agentId: string,
  offset: number,
  limit: number,
  signal?: AbortSignal,
): Promise<Page<SessionSummary>> => get("/api/sessions", { agent_id: agentId, offset, limit }, signal);

/** Deletes the session with its messages and runs: 409 while one of its runs is active. */
export const deleteSession = (id: string): Promise<void> =>
  request("DELETE", `/api/sessions/${encodeURIComponent(id)}`);
