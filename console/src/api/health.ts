// `/api/health` (agio/api/schemas/health.py): the full report for a caller allowed to read
// the system, the summary (states only) for anybody else.

import { errorOf } from "./http";

export type ProbeStatus = "ok" | "degraded" | "unhealthy" | "disabled" | "not_configured";
export type OverallStatus = "ok" | "degraded" | "unhealthy";

export interface ProbeResult {
  status: ProbeStatus;
  latency_ms?: number | null;
  detail?: string | null;
  /** The llm probe: each model component and what its probe found. */
  models?: Record<string, string>;
  /** The configs probe: files that could not be loaded. */
  problems?: { path: string; field: string | null; message: string }[];
}

export interface Health {
  status: OverallStatus;
  /** Full report only. */
  reasons?: string[];
  version?: string;
  timestamp: string;
  components: Record<string, ProbeResult>;
  auth: { status: "enabled" | "disabled"; detail?: string | null };
}

/** The report; a 503 (the database unreachable) still carries one, which is returned. */
export async function health(signal?: AbortSignal): Promise<Health> {
  const init: RequestInit = { credentials: "same-origin", headers: { Accept: "application/json" } };
  if (signal) init.signal = signal;
  const response = await fetch("/api/health", init);
  if (response.ok || response.status === 503) return (await response.json()) as Health;
  throw await errorOf(response, "/api/health");
}
