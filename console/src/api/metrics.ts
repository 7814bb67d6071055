// `/api/metrics`: an agent's runs, tokens and durations over a period (agio/api/schemas/metrics.py).

import { get } from "./http";

export type Granularity = "hour" | "day" | "week";

export interface AgentMetricsValues {
  total_runs: number;
  completed_runs: number;
  failed_runs: number;
  cancelled_runs: number;
  success_rate: number | null;
  avg_duration: number | null;
  p50_duration: number | null;
  p95_duration: number | null;
  total_tokens: number;
  prompt_tokens: number;
  completion_tokens: number;
  avg_tokens_per_run: number | null;
  tool_calls: number;
}

export interface TimeseriesPoint {
  /** The start of the bucket. */
  timestamp: string;
  runs: number;
  tokens: number;
  /** Failed runs. */
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  /** Seconds, over the bucket's runs with a duration; null when none has one. */
  avg_duration: number | null;
  p50_duration: number | null;
  p95_duration: number | null;
}

export interface ModelBreakdown {
  model: string | null;
  runs: number;
  total_tokens: number;
  prompt_tokens: number;
  completion_tokens: number;
}

export interface AgentMetrics {
  agent_id: string;
  agent_name: string;
  period: { start: string; end: string; granularity: Granularity };
  metrics: AgentMetricsValues;
  by_model: ModelBreakdown[];
  timeseries: TimeseriesPoint[];
}

export interface SystemMetrics {
  total_agents: number;
  total_runs: number;
  active_runs: number;
  paused_runs: number;
  runs_today: number;
  failed_runs_today: number;
  total_tokens_today: number;
  avg_response_time: number | null;
}

export const agentMetrics = (
  agent: string,
  query: { start_time: string; end_time: string; granularity: Granularity },
  signal?: AbortSignal,
): Promise<AgentMetrics> => get(`/api/metrics/agents/${encodeURIComponent(agent)}`, query, signal);

export const systemMetrics = (signal?: AbortSignal): Promise<SystemMetrics> =>
  get("/api/metrics/system", {}, signal);
