// Sessions (/sessions?agent=…): every conversation the caller may see, most recently
// active first, 25 a page; each a link to its page.

import { useEffect, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { listAgents } from "../../api/agents";
import { listAllSessions } from "../../api/sessionList";
import type { AgentSummary, Page, SessionSummary } from "../../api/types";
import { ErrorNotice } from "../../components/ErrorNotice";
import { dateTime } from "../../format";
import "./sessions.css";

const PAGE = 25;

function urlOf(agent: string, offset: number): string {
  const params = new URLSearchParams();
  if (agent) params.set("agent", agent);
  if (offset) params.set("offset", String(offset));
  const query = params.toString();
  return query ? `/sessions?${query}` : "/sessions";
}

export default function SessionsList() {
  const { query, route } = useLocation();
  const agent = query["agent"] ?? "";
  const offset = Math.max(0, Number(query["offset"] ?? 0) || 0);
  const [agents, setAgents] = useState<AgentSummary[]>([]);
  const [page, setPage] = useState<Page<SessionSummary> | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    listAgents().then((p) => setAgents(p.items), setError);
  }, []);
  useEffect(() => {
    const controller = new AbortController();
    listAllSessions(agent, offset, PAGE, controller.signal).then((p) => {
      setPage(p);
      setError(null);
    }, setError);
    return () => controller.abort();
  }, [agent, offset]);
  const names = new Map(agents.map((a) => [a.id, a.name]));
  return (
    <section class="screen" aria-labelledby="sessions-title">
      <h1 id="sessions-title">Sessions</h1>
      <div class="filters">
        <label class="field inline">
          <span>Agent</span>
          <select name="agent" value={agent} onChange={(e) => route(urlOf(e.currentTarget.value, 0))}>
            <option value="">Any</option>
            {agents.map((a) => (
              <option key={a.id} value={a.name}>
                {a.name}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorNotice error={error} title="Sessions could not be read" />
      {page ? (
        page.items.length ? (
          <div class="table-wrap">
            <table class="table sessions-table">
              <caption class="visually-hidden">Sessions, most recently active first</caption>
              <thead>
                <tr>
                  <th scope="col">Session</th>
                  <th scope="col">Agent</th>
                  <th scope="col">User</th>
                  <th scope="col" class="num">
                    Runs
                  </th>
                  <th scope="col">Started</th>
                  <th scope="col">Last active</th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((s) => (
                  <tr key={s.id} data-session-id={s.id}>
                    <td>
                      <a href={`/sessions/${encodeURIComponent(s.id)}`} class="mono">
                        {s.id}
                      </a>
                    </td>
                    <td>{names.get(s.agent_id) ?? <span class="mono">{s.agent_id}</span>}</td>
                    <td class="mono">{s.user_id ?? "–"}</td>
                    <td class="num">{s.run_count}</td>
                    <td>{dateTime(s.created_at)}</td>
                    <td>{dateTime(s.updated_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <p class="muted empty">No sessions{agent ? ` of ${agent}` : ""} yet.</p>
        )
      ) : (
        <p class="muted">Loading…</p>
      )}
      {page && (page.offset > 0 || page.has_more) ? (
        <nav class="pager" aria-label="Pages">
          <button type="button" class="button" disabled={offset === 0} onClick={() => route(urlOf(agent, Math.max(0, offset - PAGE)))}>
            Newer
          </button>
          <span class="muted">
            {offset + 1}–{offset + page.items.length} of {page.total}
          </span>
          <button type="button" class="button" disabled={!page.has_more} onClick={() => route(urlOf(agent, offset + PAGE))}>
            Older
          </button>
        </nav>
      ) : null}
    </section>
  );
}
