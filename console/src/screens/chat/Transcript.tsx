import { json } from "../../format";
import { duration } from "../../format";
import { StatusBadge } from "../../components/StatusBadge";
import { RunControls } from "../../components/RunControls";
import { Icon } from "../../components/Icon";
import { ApprovalCard } from "../../components/ApprovalCard";
import type { ApprovalView, ToolCallView, Turn } from "./transcript";

function Approval({ runId, approval }: { runId: string | undefined; approval: ApprovalView }) {
  if (approval.status) {
    return (
      <p class="approval-card decided" data-call-id={approval.callId}>
        <strong>{approval.tool}</strong> {approval.status} by {approval.decidedBy}
      </p>
    );
  }
  if (!runId) return null;
  const call = { runId, callId: approval.callId, tool: approval.tool, args: approval.args, expiresAt: approval.expiresAt };
  return <ApprovalCard call={call} />;
}

function ToolCall({ call }: { call: ToolCallView }) {
  return (
    <details class={`tool-call ${call.done ? "done" : "running"}`} open data-tool={call.tool}>
      <summary>
        <span class="tool-name">{call.tool}</span>
        <code class="tool-args">{JSON.stringify(call.args ?? {})}</code>
        <span class="muted">{call.done ? duration(call.duration) : "running…"}</span>
      </summary>
      {call.done ? (
        <div class="tool-result">
          <span class="muted">{call.error ? "Error" : "Result"}</span>
          <pre>{typeof call.result === "string" ? call.result : json(call.error ?? call.result)}</pre>
        </div>
      ) : null}
    </details>
  );
}

export function TurnView({ turn, live }: { turn: Turn; live: boolean }) {
  return (
    <li class="turn" data-run-id={turn.runId}>
      <div class="bubble user">
        <span class="visually-hidden">You: </span>
        {turn.user}
      </div>
      <div class="bubble agent" aria-busy={live && turn.status === "running"}>
        <span class="visually-hidden">Agent: </span>
        {turn.parts.map((p, i) =>
          p.kind === "text" ? (
            <p key={i} class="answer-text">
              {p.text}
            </p>
          ) : p.kind === "tool" ? (
            <ToolCall key={i} call={p.call} />
          ) : (
            <Approval key={i} runId={turn.runId} approval={p.approval} />
          ),
        )}
        {turn.error ? (
          <p class="notice notice-error" role="alert">
            {turn.error}
          </p>
        ) : null}
        <footer class="turn-meta">
          <StatusBadge status={turn.status} />
          {turn.metrics ? (
            <span class="muted">
              {turn.metrics.total_tokens} tokens · {duration(turn.metrics.duration)}
            </span>
          ) : null}
          {turn.runId ? (
            <a href={`/runs/${turn.runId}`} class="run-link">
              <Icon name="link" /> Run {turn.runId}
            </a>
          ) : null}
        </footer>
        {live && turn.runId ? <RunControls runId={turn.runId} status={turn.status} /> : null}
      </div>
    </li>
  );
}
