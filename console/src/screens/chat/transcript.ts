// A conversation as the chat screen shows it: turns of a user message and the agent's
// answer, which is text and tool calls in the order they happened. Built from a session's
// stored messages and, for a turn in progress, from its run's events.

import { statusAfter, text } from "../../api/events";
import type { RunEvent, RunMetrics, RunStatus, SessionDetail } from "../../api/types";

export interface ToolCallView {
  callId: string;
  tool: string;
  args: unknown;
  done: boolean;
  result?: unknown;
  error?: unknown;
  duration?: number;
}

/** A tool call that waits for a decision (`approval_requested`), then its decision. */
export interface ApprovalView {
  callId: string;
  tool: string;
  args: unknown;
  expiresAt: string;
  /** approved, rejected or expired, once `approval_resolved` came */
  status?: string;
  decidedBy?: string;
}

export type Part =
  | { kind: "text"; text: string }
  | { kind: "tool"; call: ToolCallView }
  | { kind: "approval"; approval: ApprovalView };

export interface Turn {
  key: string;
  user: string;
  parts: Part[];
  runId?: string;
  status: RunStatus | "starting";
  error?: string;
  metrics?: RunMetrics;
}

/** `turn` after `event` (a new object; the input is not changed). */
export function applyEvent(turn: Turn, event: RunEvent): Turn {
  const d = event.data;
  const status = statusAfter(event) ?? turn.status;
  const next: Turn = { ...turn, status, parts: turn.parts };
  switch (event.type) {
    case "run_started": {
      const runId = text(d["run_id"]);
      if (runId) next.runId = runId;
      break;
    }
    case "content_delta": {
      const piece = text(d["content"]);
      const parts = [...turn.parts];
      const last = parts[parts.length - 1];
      if (last?.kind === "text") parts[parts.length - 1] = { kind: "text", text: last.text + piece };
      else parts.push({ kind: "text", text: piece });
      next.parts = parts;
      break;
    }
    case "tool_call_started":
      next.parts = [
        ...turn.parts,
        { kind: "tool", call: { callId: text(d["call_id"]), tool: text(d["tool"]), args: d["args"], done: false } },
      ];
      break;
    case "tool_call_completed": {
      const callId = text(d["call_id"]);
      next.parts = turn.parts.map((p) => {
        if (p.kind !== "tool" || p.call.callId !== callId) return p;
        const call: ToolCallView = { ...p.call, done: true, result: d["result"] };
        if (d["error"] !== undefined && d["error"] !== null) call.error = d["error"];
        if (typeof d["duration"] === "number") call.duration = d["duration"];
        return { kind: "tool", call };
      });
      break;
    }
    case "approval_requested":
      next.parts = [
        ...turn.parts,
        {
          kind: "approval",
          approval: {
            callId: text(d["call_id"]),
            tool: text(d["tool"]),
            args: d["args"],
            expiresAt: text(d["expires_at"]),
          },
        },
      ];
      break;
    case "approval_resolved": {
      const callId = text(d["call_id"]);
      next.parts = turn.parts.map((p) =>
        p.kind === "approval" && p.approval.callId === callId
          ? { kind: "approval", approval: { ...p.approval, status: text(d["status"]), decidedBy: text(d["decided_by"]) } }
          : p,
      );
      break;
    }
    case "run_completed": {
      const response = text(d["response"]);
      if (!turn.parts.some((p) => p.kind === "text") && response) {
        next.parts = [...turn.parts, { kind: "text", text: response }];
      }
      if (d["metrics"]) next.metrics = d["metrics"] as RunMetrics;
      break;
    }
    case "run_failed":
    case "error": {
      const error = d["error"] as { type?: string; message?: string } | undefined;
      next.error = `${error?.type ?? "Error"}: ${error?.message ?? "the run failed"}`;
      break;
    }
  }
  return next;
}

/** The stored conversation of a session as turns (tool results beside their calls). */
export function turnsOf(session: SessionDetail): Turn[] {
  const turns: Turn[] = [];
  const runs = session.runs;
  for (const message of session.messages) {
    const content = typeof message.content === "string" ? message.content : "";
    if (message.role === "user") {
      const run = runs[turns.length];
      const turn: Turn = { key: `history-${turns.length}`, user: content, parts: [], status: run?.status ?? "completed" };
      if (run) turn.runId = run.id;
      turns.push(turn);
      continue;
    }
    const turn = turns[turns.length - 1];
    if (!turn) continue;
    if (message.role === "assistant") {
      if (content) turn.parts.push({ kind: "text", text: content });
      const calls = Array.isArray(message["tool_calls"]) ? (message["tool_calls"] as Record<string, unknown>[]) : [];
      for (const call of calls) {
        turn.parts.push({
          kind: "tool",
          call: { callId: text(call["id"]), tool: text(call["name"]), args: call["arguments"], done: false },
        });
      }
    } else if (message.role === "tool") {
      const callId = text(message["tool_call_id"]);
      for (const part of turn.parts) {
        if (part.kind === "tool" && part.call.callId === callId) {
          part.call.done = true;
          part.call.result = content;
        }
      }
    }
  }
  return turns;
}
