// One tool call waiting for a decision: its tool and arguments, and Approve / Reject,
// with a reason and, for an approval, arguments edited as JSON (checked by the server
// against the tool's schema: its 422 is shown here). Used by the approvals inbox, the
// chat and the run page.

import { useState } from "preact/hooks";
import { decide, type Approval } from "../api/approvals";
import { dateTime } from "../format";
import { ErrorNotice } from "./ErrorNotice";

export interface PendingCall {
  runId: string;
  callId: string;
  tool: string;
  args: unknown;
  expiresAt?: string;
}

export function ApprovalCard(props: { call: PendingCall; onDecided?: (approval: Approval) => void }) {
  const { call } = props;
  const [editing, setEditing] = useState(false);
  const [argsText, setArgsText] = useState(JSON.stringify(call.args ?? {}, null, 2));
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<Approval | null>(null);
  const id = `approval-${call.callId}`;

  const send = async (decision: "approve" | "reject"): Promise<void> => {
    setError(null);
    const body: { decision: "approve" | "reject"; reason?: string; arguments?: Record<string, unknown> } = {
      decision,
    };
    if (reason.trim()) body.reason = reason.trim();
    if (decision === "approve" && editing) {
      try {
        const parsed: unknown = JSON.parse(argsText);
        if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
        body.arguments = parsed as Record<string, unknown>;
      } catch {
        setError(new Error("The arguments must be a JSON object"));
        return;
      }
    }
    setBusy(true);
    try {
      const approval = await decide(call.runId, call.callId, body);
      setDone(approval);
      props.onDecided?.(approval);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  if (done) {
    return (
      <div class="approval-card decided" data-call-id={call.callId} role="status">
        <strong>{call.tool}</strong> {done.status} by {done.decided_by}
        {done.reason ? `: ${done.reason}` : ""}
      </div>
    );
  }
  return (
    <section class="approval-card" aria-labelledby={`${id}-title`} data-call-id={call.callId}>
      <h3 id={`${id}-title`} class="approval-title">
        Approve <code>{call.tool}</code>?
      </h3>
      {call.expiresAt ? <p class="muted small">Expires {dateTime(call.expiresAt)}</p> : null}
      {editing ? (
        <label class="field">
          <span>Arguments (JSON)</span>
          <textarea rows={4} value={argsText} onInput={(e) => setArgsText(e.currentTarget.value)} />
        </label>
      ) : (
        <pre class="approval-args">{JSON.stringify(call.args ?? {}, null, 2)}</pre>
      )}
      <label class="field">
        <span>Reason (optional)</span>
        <input type="text" value={reason} maxLength={2000} onInput={(e) => setReason(e.currentTarget.value)} />
      </label>
      <div class="button-row">
        <button type="button" class="button primary" disabled={busy} onClick={() => send("approve")}>
          {editing ? "Approve with these arguments" : "Approve"}
        </button>
        <button type="button" class="button danger" disabled={busy} onClick={() => send("reject")}>
          Reject
        </button>
        <button type="button" class="button" disabled={busy} onClick={() => setEditing(!editing)}>
          {editing ? "Keep the model's arguments" : "Edit arguments"}
        </button>
      </div>
      <ErrorNotice error={error} title="The decision was not taken" />
    </section>
  );
}
