// Run events (agio/domain/events.py) as the console receives them: from the JSON log,
// from a chat's POST stream, or from EventSource on /api/runs/{id}/events.

import type { RunEvent, RunStatus } from "./types";

export const EVENT_TYPES = [
  "run_started",
  "step_started",
  "content_delta",
  "tool_call_started",
  "tool_call_completed",
  "step_completed",
  "checkpoint_created",
  "run_paused",
  "run_resumed",
  "run_cancelled",
  "run_completed",
  "run_failed",
  "error",
  "approval_requested",
  "approval_resolved",
] as const;

export const TERMINAL_EVENTS: Readonly<Record<string, RunStatus>> = {
  run_completed: "completed",
  run_failed: "failed",
  run_cancelled: "cancelled",
};

/** The status a run is in after `event`, when the event changes it. */
export function statusAfter(event: RunEvent): RunStatus | null {
  const ended = TERMINAL_EVENTS[event.type];
  if (ended) return ended;
  if (event.type === "run_started" || event.type === "run_resumed") return "running";
  if (event.type === "run_paused") return "paused";
  if (event.type === "approval_requested") return "waiting_approval";
  return null;
}

/** A received SSE message as a run event (its `id:` is the event's `seq`). */
export function eventOf(type: string, id: string | null, data: string): RunEvent | null {
  const seq = Number(id);
  if (!Number.isInteger(seq) || seq < 1) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof parsed !== "object" || parsed === null) return null;
  return { seq, type, timestamp: new Date().toISOString(), data: parsed as Record<string, unknown> };
}

export function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

/** One line that says what an event is about, for lists and timelines. */
export function summary(event: RunEvent): string {
  const d = event.data;
  switch (event.type) {
    case "run_started":
      return `agent ${text(d["agent_id"])}, session ${text(d["session_id"])}`;
    case "step_started":
      return `step ${String(d["step"])} (${text(d["type"])})`;
    case "content_delta":
      return JSON.stringify(text(d["content"]));
    case "tool_call_started":
      return `${text(d["tool"])}(${JSON.stringify(d["args"] ?? {})})`;
    case "tool_call_completed": {
      const error = d["error"] ? ` error: ${JSON.stringify(d["error"])}` : "";
      return `${text(d["tool"])} → ${JSON.stringify(d["result"] ?? null)}${error} in ${seconds(d["duration"])}`;
    }
    case "step_completed":
      return `step ${String(d["step"])}: ${JSON.stringify(d["metrics"] ?? {})}`;
    case "checkpoint_created":
      return `${text(d["checkpoint_id"])} at step ${String(d["step"])}`;
    case "run_completed":
      return JSON.stringify(text(d["response"]));
    case "approval_requested":
      return `${text(d["tool"])}(${JSON.stringify(d["args"] ?? {})}) waits for approval`;
    case "approval_resolved":
      return `${text(d["tool"])} ${text(d["status"])} by ${text(d["decided_by"])}`;
    case "run_failed":
    case "error": {
      const error = d["error"] as { type?: string; message?: string } | undefined;
      return `${error?.type ?? "Error"}: ${error?.message ?? ""}`;
    }
    default:
      return JSON.stringify(d);
  }
}

export function seconds(value: unknown): string {
  if (typeof value !== "number") return "–";
  return value < 1 ? `${Math.round(value * 1000)} ms` : `${value.toFixed(2)} s`;
}
