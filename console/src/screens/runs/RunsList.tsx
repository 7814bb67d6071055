// Runs: newest first, filtered by agent, status, user and session (the filters are in
// the URL), refreshed every two seconds while the page is visible.

import { useEffect, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { listAgents } from "../../api/agents";
import { ApiError } from "../../api/http";
import { listRuns, type RunFilters } from "../../api/runs";
import { RUN_STATUSES, type AgentSummary, type Page, type RunStatus, type RunSummary } from "../../api/types";
import { ErrorNotice } from "../../components/ErrorNotice";
import { StatusBadge } from "../../components/StatusBadge";
import { count, dateTime, duration, shorten } from "../../format";
import { usePolling } from "./usePolling";

const PAGE = 25;
const FILTERS = ["agent_id", "status", "user_id", "session_id"] as const;

function filtersOf(query: Record<string, string>): RunFilters {
  const filters: RunFilters = {};
  for (const name of FILTERS) {
    const value = query[name];
    if (value) (filters as Record<string, string>)[name] = value;
  }
  return filters;
}

function urlOf(filters: RunFilters, offset: number): string {
  const params = new URLSearchParams();
  for (const name of FILTERS) {
    const value = filters[name];
    if (value) params.set(name, value);
  }
  if (offset) params.set("offset", String(offset));
  const query = params.toString();
  return query ? `/runs?${query}` : "/runs";
}

export default function RunsList() {
  const { query, route } = useLocation();
  const filters = filtersOf(query);
  const offset = Math.max(0, Number(query["offset"] ?? 0) || 0);
  const [page, setPage] = useState<Page<RunSummary> | null>(null);
  const [agents, setAgents] = useState<AgentSummary[]>([]);
  const [error, setError] = useState<unknown>(null);
  const key = urlOf(filters, offset);
  // what the form holds: the URL's filters until the user changes them (the list below
  // re-renders every two seconds, which must not undo typing)
  const [draft, setDraft] = useState<RunFilters>(filters);
  useEffect(() => setDraft(filtersOf(query)), [key]);
  const field = (name: (typeof FILTERS)[number]) => ({
    name,
    value: draft[name] ?? "",
    onInput: (e: Event) => setDraft({ ...draft, [name]: (e.currentTarget as HTMLInputElement).value }),
  });

  useEffect(() => {
    listAgents().then((p) => setAgents(p.items), setError);
  }, []);

  usePolling(
    async (signal) => {
      try {
        setPage(await listRuns(filters, offset, PAGE, signal));
        setError(null);
      } catch (e) {
        if (!(e instanceof ApiError && e.body.type === "Aborted")) setError(e);
      }
    },
    2000,
    [key],
  );

  const apply = (e: Event): void => {
    e.preventDefault();
    const next: RunFilters = {};
    for (const name of FILTERS) {
      const value = (draft[name] ?? "").trim();
      if (value) (next as Record<string, string>)[name] = value;
    }
    route(urlOf(next, 0));
  };

  return (
    <section class="screen" aria-labelledby="runs-title">
      <h1 id="runs-title">Runs</h1>
      <form class="filters" onSubmit={apply}>
        <label class="field inline">
          <span>Agent</span>
          <select {...field("agent_id")} onChange={field("agent_id").onInput}>
            <option value="">Any</option>
            {agents.map((a) => (
              <option key={a.id} value={a.name}>
                {a.name}
              </option>
            ))}
          </select>
        </label>
        <label class="field inline">
          <span>Status</span>
          <select {...field("status")} onChange={field("status").onInput}>
            <option value="">Any</option>
            {RUN_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label class="field inline">
          <span>User</span>
          <input {...field("user_id")} placeholder="usr_…" size={14} />
        </label>
        <label class="field inline">
          <span>Session</span>
          <input {...field("session_id")} placeholder="ses_…" size={14} />
        </label>
        <div class="button-row">
          <button type="submit" class="button primary">
            Filter
          </button>
          <a class="button ghost" href="/runs">
            Clear
          </a>
        </div>
      </form>
      <ErrorNotice error={error} title="Runs could not be read" />
      {page ? <RunsTable page={page} /> : <p class="muted">Loading…</p>}
      {page && (page.offset > 0 || page.has_more) ? (
        <nav class="pager" aria-label="Pages">
          <button
            type="button"
            class="button"
            disabled={offset === 0}
            onClick={() => route(urlOf(filters, Math.max(0, offset - PAGE)))}
          >
            Newer
          </button>
          <span class="muted">
            {offset + 1}–{offset + page.items.length} of {page.total}
          </span>
          <button type="button" class="button" disabled={!page.has_more} onClick={() => route(urlOf(filters, offset + PAGE))}>
            Older
          </button>
        </nav>
      ) : null}
    </section>
  );
}

function RunsTable({ page }: { page: Page<RunSummary> }) {
  if (page.items.length === 0) return <p class="muted empty">No runs match.</p>;
  return (
    <div class="table-wrap">
      <table class="table runs-table">
        <caption class="visually-hidden">Runs, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Run</th>
            <th scope="col">Status</th>
            <th scope="col">Agent</th>
            <th scope="col" class="wide">
              Query
            </th>
            <th scope="col" class="num">
              Tokens
            </th>
            <th scope="col" class="num">
              Duration
            </th>
            <th scope="col">Started</th>
          </tr>
        </thead>
        <tbody>
          {page.items.map((r) => (
            <tr key={r.id} data-run-id={r.id}>
              <td>
                <a href={`/runs/${r.id}`} class="mono">
                  {r.id}
                </a>
                {r.parent_run_id ? <span class="muted small"> ← {r.parent_run_id}</span> : null}
              </td>
              <td>
                <StatusBadge status={r.status as RunStatus} />
              </td>
              <td>{r.agent_name}</td>
              <td class="wide">{shorten(r.input_query, 80)}</td>
              <td class="num tokens">{count(r.metrics.total_tokens)}</td>
              <td class="num">{duration(r.metrics.duration)}</td>
              <td>{dateTime(r.started_at ?? r.created_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
