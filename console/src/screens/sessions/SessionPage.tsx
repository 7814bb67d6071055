// One session (/sessions/:id): its messages as stored (what memory draws on), its
// summary, its runs (links to their pages), a link to go on with it in the chat, and
// delete (refused with 409 while one of its runs is active: the server's message shown).

import { useEffect, useState } from "preact/hooks";
import { useLocation, useRoute } from "preact-iso";
import { listAgents } from "../../api/agents";
import { deleteSession } from "../../api/sessionList";
import { getSession } from "../../api/sessions";
import type { AgentSummary, RunStatus, SessionDetail } from "../../api/types";
import { useAuth } from "../../auth";
import { Dialog } from "../../components/Dialog";
import { ErrorNotice } from "../../components/ErrorNotice";
import { StatusBadge } from "../../components/StatusBadge";
import { dateTime, json } from "../../format";
import "./sessions.css";

type Message = SessionDetail["messages"][number];

interface StoredCall {
  name?: string;
  arguments?: unknown;
}

function MessageView({ message }: { message: Message }) {
  const { role, content, tool_calls, ...rest } = message;
  const calls = Array.isArray(tool_calls) ? (tool_calls as StoredCall[]) : [];
  // what else the message holds (a tool result's call id and tool name …), unset ones left out
  const extra = Object.entries(rest).filter(([, v]) => v !== null && v !== undefined && v !== "");
  return (
    <li class={`session-message role-${role}`} data-role={role}>
      <span class="role">{role}</span>
      <div class="body">
        {content ? <p class="content">{content}</p> : null}
        {calls.length ? (
          <ul class="plain message-calls">
            {calls.map((c, i) => (
              <li key={i} class="mono small">
                → {c.name ?? "?"}({JSON.stringify(c.arguments ?? {})})
              </li>
            ))}
          </ul>
        ) : null}
        {extra.length ? (
          <p class="muted small">
            {extra.map(([k, v]) => `${k}: ${typeof v === "string" ? v : json(v)}`).join(" · ")}
          </p>
        ) : null}
      </div>
    </li>
  );
}

export default function SessionPage() {
  const { params } = useRoute();
  const { route } = useLocation();
  const { principal } = useAuth();
  const id = params["id"] ?? "";
  const [session, setSession] = useState<SessionDetail | null>(null);
  const [agents, setAgents] = useState<AgentSummary[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [asking, setAsking] = useState(false);
  const [deleteError, setDeleteError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [version, setVersion] = useState(0);
  useEffect(() => {
    listAgents().then((p) => setAgents(p.items), () => undefined);
  }, []);
  useEffect(() => {
    const controller = new AbortController();
    getSession(id, controller.signal).then((s) => {
      setSession(s);
      setError(null);
    }, setError);
    return () => controller.abort();
  }, [id, version]);

  const remove = async (): Promise<void> => {
    setBusy(true);
    setDeleteError(null);
    try {
      await deleteSession(id);
      setAsking(false);
      route("/sessions");
    } catch (err) {
      setDeleteError(err);
      setVersion((v) => v + 1); // the runs' statuses, as they are now
    } finally {
      setBusy(false);
    }
  };

  if (!session) {
    return (
      <section class="screen">
        <h1 class="mono">{id}</h1>
        {error ? <ErrorNotice error={error} title="The session could not be read" /> : <p class="muted">Loading…</p>}
      </section>
    );
  }
  const agent = agents.find((a) => a.id === session.agent_id);
  const canDelete = principal.permissions.includes("delete:session");
  return (
    <section class="screen session-page" aria-labelledby="session-title" data-session-id={session.id}>
      <p class="crumbs">
        <a href="/sessions">Sessions</a> / <span class="mono">{session.id}</span>
      </p>
      <header class="run-header">
        <h1 id="session-title">
          Session <span class="mono">{session.id}</span>
        </h1>
        <div class="button-row">
          {agent ? (
            <a class="button" href={`/chat?agent=${encodeURIComponent(agent.name)}&session=${encodeURIComponent(session.id)}`}>
              Continue in chat
            </a>
          ) : null}
          {canDelete ? (
            <button
              type="button"
              class="button danger"
              onClick={() => {
                setDeleteError(null);
                setAsking(true);
              }}
            >
              Delete
            </button>
          ) : null}
        </div>
      </header>
      <ErrorNotice error={error} />
      <dl class="facts">
        <dt>Agent</dt>
        <dd>{agent ? <a href={`/config/${encodeURIComponent(agent.name)}`}>{agent.name}</a> : <span class="mono">{session.agent_id}</span>}</dd>
        <dt>User</dt>
        <dd class="mono">{session.user_id ?? "–"}</dd>
        <dt>Started</dt>
        <dd>{dateTime(session.created_at)}</dd>
        <dt>Last active</dt>
        <dd>{dateTime(session.updated_at)}</dd>
      </dl>
      <div class="session-grid">
        <section class="panel" aria-labelledby="session-messages">
          <h2 id="session-messages">Messages ({session.messages.length})</h2>
          {session.summary ? (
            <div class="session-summary">
              <h3>Summary of older turns</h3>
              <p>{session.summary}</p>
            </div>
          ) : null}
          {session.messages.length ? (
            <ol class="plain session-messages">
              {session.messages.map((m, i) => (
                <MessageView key={i} message={m} />
              ))}
            </ol>
          ) : (
            <p class="muted">No messages.</p>
          )}
        </section>
        <section class="panel" aria-labelledby="session-runs">
          <h2 id="session-runs">Runs ({session.runs.length})</h2>
          {session.runs.length ? (
            <ol class="plain session-runs">
              {session.runs.map((r) => (
                <li key={r.id} data-run-id={r.id}>
                  <a href={`/runs/${r.id}`} class="mono">
                    {r.id}
                  </a>{" "}
                  <StatusBadge status={r.status as RunStatus} />
                </li>
              ))}
            </ol>
          ) : (
            <p class="muted">No runs.</p>
          )}
        </section>
      </div>
      <Dialog title="Delete this session?" open={asking} onClose={() => setAsking(false)}>
        <div class="dialog-body">
          <p>
            The session <code>{session.id}</code>, its {session.messages.length} messages and its {session.runs.length}{" "}
            runs (with their events and checkpoints) are deleted for good.
          </p>
          <ErrorNotice error={deleteError} title="Not deleted" />
          <div class="button-row end">
            <button type="button" class="button" onClick={() => setAsking(false)}>
              Keep it
            </button>
            <button type="button" class="button primary danger-fill" disabled={busy} onClick={() => void remove()}>
              Delete the session
            </button>
          </div>
        </div>
      </Dialog>
    </section>
  );
}
