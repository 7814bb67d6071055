// A run's approvals: the calls waiting for a decision (approve or reject them here) and
// the decisions made, read again whenever the run changes.

import { useEffect, useState } from "preact/hooks";
import { runApprovals, type Approval } from "../../api/approvals";
import { ApprovalCard } from "../../components/ApprovalCard";
import { ErrorNotice } from "../../components/ErrorNotice";
import { dateTime } from "../../format";

export function RunApprovals(props: { runId: string; version: string; onDecided: () => void }) {
  const [items, setItems] = useState<Approval[]>([]);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const controller = new AbortController();
    runApprovals(props.runId, controller.signal).then((page) => setItems(page.items), setError);
    return () => controller.abort();
  }, [props.runId, props.version]);
  if (!items.length && !error) return null;
  const pending = items.filter((a) => a.status === "pending");
  const decided = items.filter((a) => a.status !== "pending");
  return (
    <section aria-labelledby="approvals-title" class="panel">
      <h2 id="approvals-title">Approvals</h2>
      <ErrorNotice error={error} />
      {pending.map((a) => (
        <ApprovalCard
          key={a.call_id}
          call={{ runId: a.run_id, callId: a.call_id, tool: a.tool, args: a.args, expiresAt: a.expires_at }}
          onDecided={props.onDecided}
        />
      ))}
      {decided.length ? (
        <div class="table-wrap">
          <table class="table">
            <caption class="visually-hidden">Decisions</caption>
            <thead>
              <tr>
                <th scope="col">Tool</th>
                <th scope="col">Decision</th>
                <th scope="col">By</th>
                <th scope="col">When</th>
                <th scope="col">Reason</th>
                <th scope="col">Ran with</th>
              </tr>
            </thead>
            <tbody>
              {decided.map((a) => (
                <tr key={a.call_id} data-call-id={a.call_id}>
                  <td>{a.tool}</td>
                  <td data-status={a.status}>{a.status}</td>
                  <td>{a.decided_by}</td>
                  <td>{dateTime(a.decided_at)}</td>
                  <td>{a.reason ?? "–"}</td>
                  <td>
                    <code>{a.status === "approved" ? JSON.stringify(a.arguments) : "–"}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
