// The approvals inbox: every tool call waiting for a decision that the signed-in user
// may decide (their own runs; an admin's: all), oldest first, read again every few
// seconds; each with Approve / Reject and a link to its run.

import { useState } from "preact/hooks";
import { pendingApprovals, type Approval } from "../../api/approvals";
import { ApiError } from "../../api/http";
import { ApprovalCard } from "../../components/ApprovalCard";
import { ErrorNotice } from "../../components/ErrorNotice";
import { dateTime } from "../../format";
import { usePolling } from "../runs/usePolling";

export default function Approvals() {
  const [items, setItems] = useState<Approval[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  usePolling(
    async (signal) => {
      try {
        setItems((await pendingApprovals(signal)).items);
        setError(null);
      } catch (e) {
        if (!(e instanceof ApiError && e.body.type === "Aborted")) setError(e);
      }
    },
    3000,
    [],
  );
  return (
    <section class="screen" aria-labelledby="approvals-title">
      <h1 id="approvals-title">Approvals</h1>
      <ErrorNotice error={error} title="The approvals could not be read" />
      {items === null ? <p class="muted">Loading…</p> : null}
      {items && items.length === 0 ? <p class="muted empty">No tool call waits for a decision.</p> : null}
      <ul class="approval-list" aria-label="Waiting for a decision">
        {(items ?? []).map((a) => (
          <li key={`${a.run_id}/${a.call_id}`}>
            <p class="small">
              <a href={`/runs/${a.run_id}`}>Run {a.run_id}</a> · asked {dateTime(a.requested_at)}
            </p>
            <ApprovalCard
              call={{ runId: a.run_id, callId: a.call_id, tool: a.tool, args: a.args, expiresAt: a.expires_at }}
            />
          </li>
        ))}
      </ul>
    </section>
  );
}
