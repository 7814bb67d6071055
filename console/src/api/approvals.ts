// `/api/approvals` and `/api/runs/{id}/approvals`: tool calls that wait for a person's
// decision (agio/api/schemas/approvals.py, SPEC §11).

import { get, request } from "./http";

export type ApprovalStatus = "pending" | "approved" | "rejected" | "expired";

export interface Approval {
  run_id: string;
  call_id: string;
  agent_id: string;
  tool: string;
  /** The model's arguments. */
  args: Record<string, unknown>;
  status: ApprovalStatus;
  decision: "approve" | "reject" | null;
  /** What an approved call runs with. */
  arguments: Record<string, unknown>;
  decided_by: string | null;
  decided_at: string | null;
  reason: string | null;
  requested_at: string;
  expires_at: string;
}

export interface DecisionBody {
  decision: "approve" | "reject";
  arguments?: Record<string, unknown>;
  reason?: string;
}

export const pendingApprovals = (signal?: AbortSignal): Promise<{ items: Approval[] }> =>
  get("/api/approvals", { status: "pending" }, signal);

export const runApprovals = (runId: string, signal?: AbortSignal): Promise<{ items: Approval[] }> =>
  get(`/api/runs/${encodeURIComponent(runId)}/approvals`, {}, signal);

export const decide = (runId: string, callId: string, body: DecisionBody): Promise<Approval> =>
  request("POST", `/api/runs/${encodeURIComponent(runId)}/approvals/${encodeURIComponent(callId)}`, {
    body,
  });
