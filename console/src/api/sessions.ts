import { get } from "./http";
import type { Page, SessionDetail, SessionSummary } from "./types";

export const listSessions = (agentId: string, signal?: AbortSignal): Promise<Page<SessionSummary>> =>
  get("/api/sessions", { agent_id: agentId, limit: 50 }, signal);

export const getSession = (id: string, signal?: AbortSignal): Promise<SessionDetail> =>
  get(`/api/sessions/${encodeURIComponent(id)}`, {}, signal);
