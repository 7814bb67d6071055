// Metrics: one agent's runs, prompt and completion tokens, errors and run durations
// (average, median, 95th percentile) per bucket over a period (the period and bucket size
// are in the URL), its totals (by model too), and the server's totals. At /usage:
// /metrics is the server's Prometheus endpoint.

import { useEffect, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { listAgents } from "../../api/agents";
import { ApiError } from "../../api/http";
import { agentMetrics, systemMetrics, type AgentMetrics, type Granularity, type SystemMetrics } from "../../api/metrics";
import type { AgentSummary } from "../../api/types";
import { ErrorNotice } from "../../components/ErrorNotice";
import { count, duration } from "../../format";
import { usePolling } from "../runs/usePolling";
import { Chart, type Series } from "./Chart";
import "./metrics.css";

const PERIODS: Record<string, { label: string; hours: number }> = {
  "24h": { label: "Last 24 hours", hours: 24 },
  "7d": { label: "Last 7 days", hours: 24 * 7 },
  "30d": { label: "Last 30 days", hours: 24 * 30 },
};
const GRANULARITIES: readonly Granularity[] = ["hour", "day", "week"];

function bucketLabel(iso: string, granularity: Granularity): string {
  const d = new Date(iso);
  if (granularity === "hour") return `${String(d.getHours()).padStart(2, "0")}:00`;
  return d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
}

function periodOf(key: string, granularity: Granularity): { start_time: string; end_time: string; granularity: Granularity } {
  const hours = (PERIODS[key] ?? PERIODS["24h"]!).hours;
  const end = new Date();
  const start = new Date(end.getTime() - hours * 3600_000);
  return { start_time: start.toISOString(), end_time: end.toISOString(), granularity };
}

const tokens = (n: number): string => (n >= 10_000 ? `${Math.round(n / 1000).toLocaleString()}k` : count(Math.round(n)));

export default function Metrics() {
  const { query, route } = useLocation();
  const [agents, setAgents] = useState<AgentSummary[]>([]);
  const [report, setReport] = useState<AgentMetrics | null>(null);
  const [system, setSystem] = useState<SystemMetrics | null>(null);
  const [error, setError] = useState<unknown>(null);
  const period = PERIODS[query["period"] ?? ""] ? (query["period"] as string) : "24h";
  const granularity = GRANULARITIES.includes(query["granularity"] as Granularity)
    ? (query["granularity"] as Granularity)
    : "hour";
  const agent = query["agent"] || agents[0]?.name || "";

  useEffect(() => {
    listAgents().then((p) => setAgents(p.items), setError);
  }, []);

  const go = (next: Record<string, string>): void => {
    const params = new URLSearchParams({ agent, period, granularity, ...next });
    route(`/usage?${params.toString()}`);
  };

  usePolling(
    async (signal) => {
      try {
        setSystem(await systemMetrics(signal));
        if (agent) setReport(await agentMetrics(agent, periodOf(period, granularity), signal));
        setError(null);
      } catch (e) {
        if (!(e instanceof ApiError && e.body.type === "Aborted")) setError(e);
      }
    },
    10_000,
    [agent, period, granularity],
  );

  const points = report?.timeseries ?? [];
  const labels = points.map((p) => bucketLabel(p.timestamp, granularity));
  const series = (name: string, pick: (p: AgentMetrics["timeseries"][number]) => number | null): Series => ({
    name,
    values: points.map(pick),
  });
  const m = report?.metrics;

  return (
    <section class="screen" aria-labelledby="metrics-title">
      <h1 id="metrics-title">Metrics</h1>
      {system ? (
        <dl class="tiles" aria-label="System totals">
          <Tile term="Agents" value={count(system.total_agents)} />
          <Tile term="Runs" value={count(system.total_runs)} />
          <Tile term="Active runs" value={count(system.active_runs)} />
          <Tile term="Paused runs" value={count(system.paused_runs)} />
          <Tile term="Runs today" value={count(system.runs_today)} />
          <Tile term="Failed today" value={count(system.failed_runs_today)} />
          <Tile term="Tokens today" value={count(system.total_tokens_today)} />
          <Tile term="Avg response (24 h)" value={duration(system.avg_response_time)} />
        </dl>
      ) : null}
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label class="field inline">
          <span>Agent</span>
          <select value={agent} onChange={(e) => go({ agent: e.currentTarget.value })}>
            {agents.map((a) => (
              <option key={a.id} value={a.name}>
                {a.name}
              </option>
            ))}
          </select>
        </label>
        <label class="field inline">
          <span>Period</span>
          <select value={period} onChange={(e) => go({ period: e.currentTarget.value })}>
            {Object.entries(PERIODS).map(([key, p]) => (
              <option key={key} value={key}>
                {p.label}
              </option>
            ))}
          </select>
        </label>
        <label class="field inline">
          <span>Bucket</span>
          <select value={granularity} onChange={(e) => go({ granularity: e.currentTarget.value })}>
            {GRANULARITIES.map((g) => (
              <option key={g} value={g}>
                {g}
              </option>
            ))}
          </select>
        </label>
      </form>
      <ErrorNotice error={error} title="Metrics could not be read" />
      {report && m ? (
        <>
          <dl class="tiles" aria-label={`Totals of ${report.agent_name}`}>
            <Tile term="Runs" value={count(m.total_runs)} />
            <Tile term="Completed" value={count(m.completed_runs)} />
            <Tile term="Failed" value={count(m.failed_runs)} />
            <Tile term="Success rate" value={m.success_rate === null ? "–" : `${Math.round(m.success_rate * 100)} %`} />
            <Tile term="Prompt tokens" value={count(m.prompt_tokens)} />
            <Tile term="Completion tokens" value={count(m.completion_tokens)} />
            <Tile term="Tool calls" value={count(m.tool_calls)} />
            <Tile term="Average duration" value={duration(m.avg_duration)} />
            <Tile term="Median duration" value={duration(m.p50_duration)} />
            <Tile term="p95 duration" value={duration(m.p95_duration)} />
          </dl>
          <div class="charts">
            <Chart title="Runs" kind="bar" labels={labels} series={[series("runs", (p) => p.runs)]} />
            <Chart
              title="Tokens"
              kind="bar"
              labels={labels}
              format={tokens}
              series={[series("prompt", (p) => p.prompt_tokens), series("completion", (p) => p.completion_tokens)]}
            />
            <Chart title="Errors" kind="bar" labels={labels} series={[series("failed runs", (p) => p.errors)]} />
            <Chart
              title="Duration (seconds)"
              kind="line"
              labels={labels}
              summed={false}
              format={(n) => duration(n)}
              series={[
                series("average", (p) => p.avg_duration),
                series("p50", (p) => p.p50_duration),
                series("p95", (p) => p.p95_duration),
              ]}
            />
          </div>
          {report.by_model.length ? (
            <div class="table-wrap">
              <table class="table">
                <caption>By model</caption>
                <thead>
                  <tr>
                    <th scope="col">Model</th>
                    <th scope="col" class="num">Runs</th>
                    <th scope="col" class="num">Prompt tokens</th>
                    <th scope="col" class="num">Completion tokens</th>
                  </tr>
                </thead>
                <tbody>
                  {report.by_model.map((b) => (
                    <tr key={b.model ?? ""}>
                      <td>{b.model ?? "–"}</td>
                      <td class="num">{count(b.runs)}</td>
                      <td class="num">{count(b.prompt_tokens)}</td>
                      <td class="num">{count(b.completion_tokens)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : null}
        </>
      ) : agent ? (
        <p class="muted">Loading…</p>
      ) : null}
    </section>
  );
}

function Tile({ term, value }: { term: string; value: string }) {
  return (
    <div>
      <dt>{term}</dt>
      <dd>{value}</dd>
    </div>
  );
}
